package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/autoclipd/autoclipd/inference"
	"github.com/autoclipd/autoclipd/inference/tokenizer"
)

// cmdTokenize prints the CLIP token ids of each text (or of each line of
// standard input), one line of space-separated ids per text.
func cmdTokenize(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("tokenize", stderr)
	model := fs.String("model", "", "model `DIR` whose tokenizer to use")
	vocab := fs.String("vocab", "", "tokenizer.json or the OpenAI merges `FILE` (bpe_simple_vocab_16e6.txt.gz)")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if (*model == "") == (*vocab == "") {
		return usageError{errors.New("give exactly one of --model DIR or --vocab FILE")}
	}
	path := *vocab
	if *model != "" {
		files, err := inference.FindModelFiles(*model)
		if err != nil {
			return err
		}
		path = files.Tokenizer
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	line := make([]byte, 0, 512)
	emit := func(text string) {
		line = line[:0]
		for i, id := range tok.Encode(text) {
			if i > 0 {
				line = append(line, ' ')
			}
			line = strconv.AppendInt(line, id, 10)
		}
		line = append(line, '\n')
		w.Write(line)
	}
	if fs.NArg() > 0 {
		for _, text := range fs.Args() {
			emit(text)
		}
		return nil
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		emit(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("standard input: %w", err)
	}
	return nil
}
