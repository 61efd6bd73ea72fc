// AVX2+FMA kernel of weightedScores (score.go, scores_amd64.go).

#include "textflag.h"

// func weightedScoresAVX2(s *float32, c int, w *float64, k int, out *float64, n int)
//
// weightedScoresAVX2 sets out[j] = sum_i w[i] * s[i*c+j] for i < k and
// j < n, n a multiple of 4: four columns at a time, each column's sum in
// four accumulators (templates i mod 4) added at the end, so that the
// chain of dependent FMAs is k/4 long.
TEXT ·weightedScoresAVX2(SB), NOSPLIT, $0-48
	MOVQ s+0(FP), SI
	MOVQ c+8(FP), R8
	SHLQ $2, R8      // row stride in bytes
	MOVQ w+16(FP), DX
	MOVQ k+24(FP), R9
	MOVQ out+32(FP), DI
	MOVQ n+40(FP), CX
	XORQ AX, AX      // column j

columns:
	CMPQ   AX, CX
	JAE    done
	LEAQ   (SI)(AX*4), R10 // &s[i*c+j], i = 0
	XORQ   BX, BX          // template i
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	MOVQ   R9, R11
	SHRQ   $2, R11
	JZ     rows1

rows4:
	VCVTPS2PD    (R10), Y4
	VBROADCASTSD (DX)(BX*8), Y5
	VFMADD231PD  Y5, Y4, Y0
	ADDQ         R8, R10
	VCVTPS2PD    (R10), Y6
	VBROADCASTSD 8(DX)(BX*8), Y7
	VFMADD231PD  Y7, Y6, Y1
	ADDQ         R8, R10
	VCVTPS2PD    (R10), Y4
	VBROADCASTSD 16(DX)(BX*8), Y5
	VFMADD231PD  Y5, Y4, Y2
	ADDQ         R8, R10
	VCVTPS2PD    (R10), Y6
	VBROADCASTSD 24(DX)(BX*8), Y7
	VFMADD231PD  Y7, Y6, Y3
	ADDQ         R8, R10
	ADDQ         $4, BX
	DECQ         R11
	JNZ          rows4

rows1:
	CMPQ         BX, R9
	JAE          store
	VCVTPS2PD    (R10), Y4
	VBROADCASTSD (DX)(BX*8), Y5
	VFMADD231PD  Y5, Y4, Y0
	ADDQ         R8, R10
	INCQ         BX
	JMP          rows1

store:
	VADDPD  Y1, Y0, Y0
	VADDPD  Y3, Y2, Y2
	VADDPD  Y2, Y0, Y0
	VMOVUPD Y0, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     columns

done:
	VZEROUPPER
	RET

// func rowDotsAVX2(s *float32, c int, q *float64, n int, a *float64, k int)
//
// rowDotsAVX2 sets a[i] = sum_j q[j] * s[i*c+j] for i < k (k >= 4) and
// j < n, n a multiple of 4: four templates at a time, one accumulator each,
// four classes per FMA; the last group of four ends at k and overlaps the
// one before (its templates are computed twice, identically). Every a[i]
// is summed in the same order: lanes j mod 4, then (0+1) + (2+3).
TEXT ·rowDotsAVX2(SB), NOSPLIT, $0-48
	MOVQ s+0(FP), SI
	MOVQ c+8(FP), R8
	SHLQ $2, R8      // row stride in bytes
	MOVQ q+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ a+32(FP), DI
	MOVQ k+40(FP), R9
	XORQ BX, BX      // template i

rows:
	CMPQ BX, R9
	JAE  done
	LEAQ 4(BX), R11
	CMPQ R11, R9
	JLE  start
	LEAQ -4(R9), BX  // the last group ends at k

start:
	MOVQ   BX, R10
	IMULQ  R8, R10
	ADDQ   SI, R10    // &s[i*c]
	LEAQ   (R10)(R8*1), R11
	LEAQ   (R11)(R8*1), R12
	LEAQ   (R12)(R8*1), R13
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	XORQ   AX, AX     // class j

cols:
	VMOVUPD     (DX)(AX*8), Y8
	VCVTPS2PD   (R10)(AX*4), Y4
	VCVTPS2PD   (R11)(AX*4), Y5
	VCVTPS2PD   (R12)(AX*4), Y6
	VCVTPS2PD   (R13)(AX*4), Y7
	VFMADD231PD Y8, Y4, Y0
	VFMADD231PD Y8, Y5, Y1
	VFMADD231PD Y8, Y6, Y2
	VFMADD231PD Y8, Y7, Y3
	ADDQ        $4, AX
	CMPQ        AX, CX
	JB          cols

	// [sum Y0, sum Y1, sum Y2, sum Y3], each as (l0+l1) + (l2+l3).
	VHADDPD    Y1, Y0, Y0
	VHADDPD    Y3, Y2, Y2
	VPERM2F128 $0x20, Y2, Y0, Y4
	VPERM2F128 $0x31, Y2, Y0, Y5
	VADDPD     Y5, Y4, Y4
	VMOVUPD    Y4, (DI)(BX*8)
	ADDQ       $4, BX
	JMP        rows

done:
	VZEROUPPER
	RET
