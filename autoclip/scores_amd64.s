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
