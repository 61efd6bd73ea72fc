// AVX2+FMA kernels of weightedScores and rowDots (score.go,
// scores_amd64.go).

#include "textflag.h"

// Masks of the first t lanes, t = 0..3: maskPS for 4 float32 (16 bytes
// each), maskPD for 4 float64 (32 bytes each).
DATA maskPS<>+0(SB)/4, $0x00000000
DATA maskPS<>+4(SB)/4, $0x00000000
DATA maskPS<>+8(SB)/4, $0x00000000
DATA maskPS<>+12(SB)/4, $0x00000000
DATA maskPS<>+16(SB)/4, $0xffffffff
DATA maskPS<>+20(SB)/4, $0x00000000
DATA maskPS<>+24(SB)/4, $0x00000000
DATA maskPS<>+28(SB)/4, $0x00000000
DATA maskPS<>+32(SB)/4, $0xffffffff
DATA maskPS<>+36(SB)/4, $0xffffffff
DATA maskPS<>+40(SB)/4, $0x00000000
DATA maskPS<>+44(SB)/4, $0x00000000
DATA maskPS<>+48(SB)/4, $0xffffffff
DATA maskPS<>+52(SB)/4, $0xffffffff
DATA maskPS<>+56(SB)/4, $0xffffffff
DATA maskPS<>+60(SB)/4, $0x00000000
GLOBL maskPS<>(SB), RODATA|NOPTR, $64
DATA maskPD<>+0(SB)/8, $0x0000000000000000
DATA maskPD<>+8(SB)/8, $0x0000000000000000
DATA maskPD<>+16(SB)/8, $0x0000000000000000
DATA maskPD<>+24(SB)/8, $0x0000000000000000
DATA maskPD<>+32(SB)/8, $0xffffffffffffffff
DATA maskPD<>+40(SB)/8, $0x0000000000000000
DATA maskPD<>+48(SB)/8, $0x0000000000000000
DATA maskPD<>+56(SB)/8, $0x0000000000000000
DATA maskPD<>+64(SB)/8, $0xffffffffffffffff
DATA maskPD<>+72(SB)/8, $0xffffffffffffffff
DATA maskPD<>+80(SB)/8, $0x0000000000000000
DATA maskPD<>+88(SB)/8, $0x0000000000000000
DATA maskPD<>+96(SB)/8, $0xffffffffffffffff
DATA maskPD<>+104(SB)/8, $0xffffffffffffffff
DATA maskPD<>+112(SB)/8, $0xffffffffffffffff
DATA maskPD<>+120(SB)/8, $0x0000000000000000
GLOBL maskPD<>(SB), RODATA|NOPTR, $128

// func weightedScoresAVX2(s *float32, c int, w *float64, k int, out *float64)
//
// weightedScoresAVX2 sets out[j] = sum_i w[i] * s[i*c+j] for i < k and
// j < c: four classes at a time (the last c%4 with masked loads and
// stores), each class's sum in four accumulators (templates i mod 4) added
// at the end, so that the chain of dependent FMAs is k/4 long.
TEXT ·weightedScoresAVX2(SB), NOSPLIT, $0-40
	MOVQ s+0(FP), SI
	MOVQ c+8(FP), R8
	SHLQ $2, R8      // row stride in bytes
	MOVQ w+16(FP), DX
	MOVQ k+24(FP), R9
	MOVQ out+32(FP), DI
	MOVQ c+8(FP), CX
	XORQ AX, AX      // class j

columns:
	CMPQ     AX, CX
	JAE      done
	// Masks: all lanes, or the first c-j of the last group.
	VPCMPEQD X9, X9, X9
	VPCMPEQQ Y10, Y10, Y10
	LEAQ     4(AX), R11
	CMPQ     R11, CX
	JLE      full
	MOVQ     CX, R11
	SUBQ     AX, R11   // c-j in 1..3
	MOVQ     R11, R12
	SHLQ     $4, R11
	LEAQ     maskPS<>(SB), R13
	VMOVDQU  (R13)(R11*1), X9
	SHLQ     $5, R12
	LEAQ     maskPD<>(SB), R13
	VMOVDQU  (R13)(R12*1), Y10

full:
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
	VMASKMOVPS   (R10), X9, X4
	VCVTPS2PD    X4, Y4
	VBROADCASTSD (DX)(BX*8), Y5
	VFMADD231PD  Y5, Y4, Y0
	ADDQ         R8, R10
	VMASKMOVPS   (R10), X9, X6
	VCVTPS2PD    X6, Y6
	VBROADCASTSD 8(DX)(BX*8), Y7
	VFMADD231PD  Y7, Y6, Y1
	ADDQ         R8, R10
	VMASKMOVPS   (R10), X9, X4
	VCVTPS2PD    X4, Y4
	VBROADCASTSD 16(DX)(BX*8), Y5
	VFMADD231PD  Y5, Y4, Y2
	ADDQ         R8, R10
	VMASKMOVPS   (R10), X9, X6
	VCVTPS2PD    X6, Y6
	VBROADCASTSD 24(DX)(BX*8), Y7
	VFMADD231PD  Y7, Y6, Y3
	ADDQ         R8, R10
	ADDQ         $4, BX
	DECQ         R11
	JNZ          rows4

rows1:
	CMPQ         BX, R9
	JAE          store
	VMASKMOVPS   (R10), X9, X4
	VCVTPS2PD    X4, Y4
	VBROADCASTSD (DX)(BX*8), Y5
	VFMADD231PD  Y5, Y4, Y0
	ADDQ         R8, R10
	INCQ         BX
	JMP          rows1

store:
	VADDPD     Y1, Y0, Y0
	VADDPD     Y3, Y2, Y2
	VADDPD     Y2, Y0, Y0
	VMASKMOVPD Y0, Y10, (DI)(AX*8)
	ADDQ       $4, AX
	JMP        columns

done:
	VZEROUPPER
	RET

// func rowDotsAVX2(s *float32, c int, q *float64, a *float64, k int)
//
// rowDotsAVX2 sets a[i] = sum_j q[j] * s[i*c+j] for i < k (k >= 4) and
// j < c: four templates at a time, one accumulator each, four classes per
// FMA (the last c%4 with masked loads, the other lanes 0); the last group
// of four templates ends at k and overlaps the one before (its templates
// are computed twice, identically). Every a[i] is summed in the same
// order: lanes j mod 4, then (0+1) + (2+3).
TEXT ·rowDotsAVX2(SB), NOSPLIT, $0-40
	MOVQ s+0(FP), SI
	MOVQ c+8(FP), R8
	SHLQ $2, R8      // row stride in bytes
	MOVQ q+16(FP), DX
	MOVQ a+24(FP), DI
	MOVQ k+32(FP), R9
	MOVQ c+8(FP), CX
	MOVQ CX, R14
	ANDQ $-4, CX     // classes in whole groups of 4
	ANDQ $3, R14     // the rest
	MOVQ R14, R15
	SHLQ $4, R14
	LEAQ maskPS<>(SB), R13
	VMOVDQU (R13)(R14*1), X9
	SHLQ $5, R15
	LEAQ maskPD<>(SB), R13
	VMOVDQU (R13)(R15*1), Y10
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
	CMPQ   AX, CX
	JAE    tail

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

tail:
	TESTQ       R15, R15
	JZ          reduce
	VMASKMOVPD  (DX)(AX*8), Y10, Y8
	VMASKMOVPS  (R10)(AX*4), X9, X4
	VMASKMOVPS  (R11)(AX*4), X9, X5
	VMASKMOVPS  (R12)(AX*4), X9, X6
	VMASKMOVPS  (R13)(AX*4), X9, X7
	VCVTPS2PD   X4, Y4
	VCVTPS2PD   X5, Y5
	VCVTPS2PD   X6, Y6
	VCVTPS2PD   X7, Y7
	VFMADD231PD Y8, Y4, Y0
	VFMADD231PD Y8, Y5, Y1
	VFMADD231PD Y8, Y6, Y2
	VFMADD231PD Y8, Y7, Y3

reduce:
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
