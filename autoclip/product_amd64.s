// AVX2+FMA kernels of the similarity product (product_amd64.go). Both
// read n floats of each emb row and each frame, rows and frames d floats
// apart; n need not be a multiple of 8 (the last n%8 floats are a scalar
// tail after the horizontal reduction).

#include "textflag.h"

// REDUCE4 sums the 8 lanes of each of a, b, c, d into the 4 lanes of the
// X register of a: a.x = [sum a, sum b, sum c, sum d]. It clobbers b, c and
// the upper half of a.
#define REDUCE4(a, b, c, d, ax, bx) \
	VHADDPS b, a, a \
	VHADDPS d, c, c \
	VHADDPS c, a, a \
	VEXTRACTF128 $1, a, bx \
	VADDPS bx, ax, ax

// func dot3x4(e *float32, d int, x *float32, n int, out *float32, ostride int)
//
// dot3x4 computes the 3x4 block out[f*ostride+r] = <e_r[:n], x_f[:n]> for
// rows r < 3 (e_r = e[r*d:]) and frames f < 4 (x_f = x[f*d:]). Each chunk
// of 8 floats of the 3 rows is loaded once and multiplied with the 4
// frames: 7 loads per 12 FMAs, 12 accumulators (Y(4r+f)).
TEXT ·dot3x4(SB), NOSPLIT, $0-48
	MOVQ e+0(FP), SI
	MOVQ d+8(FP), R8
	SHLQ $2, R8
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ ostride+40(FP), R9
	SHLQ $2, R9

	LEAQ (SI)(R8*1), R10 // row 1
	LEAQ (R10)(R8*1), R11 // row 2
	LEAQ (DI)(R8*1), R12 // frame 1
	LEAQ (R12)(R8*1), R13 // frame 2
	LEAQ (R13)(R8*1), R14 // frame 3
	// DX walks the rows two triples ahead (6 rows from SI, contiguous
	// in emb) for software prefetch: 96 bytes a step, as the 3 rows.
	LEAQ (SI)(R8*4), DX
	LEAQ (DX)(R8*2), DX

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	XORQ AX, AX // byte offset into rows and frames
	MOVQ CX, BX
	SHRQ $3, BX
	JZ   reduce3x4

loop3x4:
	PREFETCHT1  (DX)
	PREFETCHT1  64(DX)
	ADDQ        $96, DX
	VMOVUPS     (SI)(AX*1), Y12
	VMOVUPS     (R10)(AX*1), Y13
	VMOVUPS     (R11)(AX*1), Y14
	VMOVUPS     (DI)(AX*1), Y15
	VFMADD231PS Y15, Y12, Y0
	VFMADD231PS Y15, Y13, Y4
	VFMADD231PS Y15, Y14, Y8
	VMOVUPS     (R12)(AX*1), Y15
	VFMADD231PS Y15, Y12, Y1
	VFMADD231PS Y15, Y13, Y5
	VFMADD231PS Y15, Y14, Y9
	VMOVUPS     (R13)(AX*1), Y15
	VFMADD231PS Y15, Y12, Y2
	VFMADD231PS Y15, Y13, Y6
	VFMADD231PS Y15, Y14, Y10
	VMOVUPS     (R14)(AX*1), Y15
	VFMADD231PS Y15, Y12, Y3
	VFMADD231PS Y15, Y13, Y7
	VFMADD231PS Y15, Y14, Y11
	ADDQ        $32, AX
	DECQ        BX
	JNZ         loop3x4

reduce3x4:
	// X(4r) = [s(r,0), s(r,1), s(r,2), s(r,3)]
	REDUCE4(Y0, Y1, Y2, Y3, X0, X1)
	REDUCE4(Y4, Y5, Y6, Y7, X4, X5)
	REDUCE4(Y8, Y9, Y10, Y11, X8, X9)

	ANDQ $7, CX
	JZ   store3x4

tail3x4:
	// X12 = [x_0[t], x_1[t], x_2[t], x_3[t]]
	VMOVSS      (DI)(AX*1), X12
	VINSERTPS   $0x10, (R12)(AX*1), X12, X12
	VINSERTPS   $0x20, (R13)(AX*1), X12, X12
	VINSERTPS   $0x30, (R14)(AX*1), X12, X12
	VBROADCASTSS (SI)(AX*1), X13
	VFMADD231PS X13, X12, X0
	VBROADCASTSS (R10)(AX*1), X13
	VFMADD231PS X13, X12, X4
	VBROADCASTSS (R11)(AX*1), X13
	VFMADD231PS X13, X12, X8
	ADDQ        $4, AX
	DECQ        CX
	JNZ         tail3x4

store3x4:
	MOVQ       out+32(FP), DX
	LEAQ       (R9)(R9*2), BX // 3*ostride
	VMOVSS     X0, (DX)
	VEXTRACTPS $1, X0, (DX)(R9*1)
	VEXTRACTPS $2, X0, (DX)(R9*2)
	VEXTRACTPS $3, X0, (DX)(BX*1)
	VMOVSS     X4, 4(DX)
	VEXTRACTPS $1, X4, 4(DX)(R9*1)
	VEXTRACTPS $2, X4, 4(DX)(R9*2)
	VEXTRACTPS $3, X4, 4(DX)(BX*1)
	VMOVSS     X8, 8(DX)
	VEXTRACTPS $1, X8, 8(DX)(R9*1)
	VEXTRACTPS $2, X8, 8(DX)(R9*2)
	VEXTRACTPS $3, X8, 8(DX)(BX*1)
	VZEROUPPER
	RET

// func dot8x1(e *float32, d int, x *float32, n int, out *float32)
//
// dot8x1 computes out[r] = <e_r[:n], x[:n]> for rows r < 8 (e_r = e[r*d:]):
// one frame, 8 rows, one accumulator per row (8 FMA chains hide the FMA
// latency). Each dot product is summed in the same order as in dot3x4, so
// that a frame's similarities do not depend on the batch it came in.
TEXT ·dot8x1(SB), NOSPLIT, $0-40
	MOVQ e+0(FP), SI
	MOVQ d+8(FP), R8
	SHLQ $2, R8
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), DX

	// Rows 0-2 at (SI)(R8*k), rows 3-5 at (R10)(R8*k), rows 6-7 at
	// (R11)(R8*k); SI, R10, R11 and DI advance 32 bytes a step.
	LEAQ (SI)(R8*2), R10
	LEAQ (R10)(R8*1), R10
	LEAQ (R10)(R8*2), R11
	LEAQ (R11)(R8*1), R11
	// R12 walks the next 8 rows (contiguous in emb) for software
	// prefetch: 256 bytes a step, as the 8 rows.
	LEAQ (SI)(R8*8), R12

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

	MOVQ CX, BX
	SHRQ $3, BX
	JZ   reduce8x1

loop8x1:
	PREFETCHT1  (R12)
	PREFETCHT1  64(R12)
	PREFETCHT1  128(R12)
	PREFETCHT1  192(R12)
	ADDQ        $256, R12
	VMOVUPS     (DI), Y8
	VFMADD231PS (SI), Y8, Y0
	VFMADD231PS (SI)(R8*1), Y8, Y1
	VFMADD231PS (SI)(R8*2), Y8, Y2
	VFMADD231PS (R10), Y8, Y3
	VFMADD231PS (R10)(R8*1), Y8, Y4
	VFMADD231PS (R10)(R8*2), Y8, Y5
	VFMADD231PS (R11), Y8, Y6
	VFMADD231PS (R11)(R8*1), Y8, Y7
	ADDQ        $32, SI
	ADDQ        $32, R10
	ADDQ        $32, R11
	ADDQ        $32, DI
	DECQ        BX
	JNZ         loop8x1

reduce8x1:
	REDUCE4(Y0, Y1, Y2, Y3, X0, X1) // X0 = [s0, s1, s2, s3]
	REDUCE4(Y4, Y5, Y6, Y7, X4, X5) // X4 = [s4, s5, s6, s7]

	ANDQ $7, CX
	JZ   store8x1

tail8x1:
	VBROADCASTSS (DI), X13
	// X12 = [e_0[t], e_1[t], e_2[t], e_3[t]]
	VMOVSS       (SI), X12
	VINSERTPS    $0x10, (SI)(R8*1), X12, X12
	VINSERTPS    $0x20, (SI)(R8*2), X12, X12
	VINSERTPS    $0x30, (R10), X12, X12
	VFMADD231PS  X13, X12, X0
	// X12 = [e_4[t], e_5[t], e_6[t], e_7[t]]
	VMOVSS       (R10)(R8*1), X12
	VINSERTPS    $0x10, (R10)(R8*2), X12, X12
	VINSERTPS    $0x20, (R11), X12, X12
	VINSERTPS    $0x30, (R11)(R8*1), X12, X12
	VFMADD231PS  X13, X12, X4
	ADDQ         $4, SI
	ADDQ         $4, R10
	ADDQ         $4, R11
	ADDQ         $4, DI
	DECQ         CX
	JNZ          tail8x1

store8x1:
	VMOVUPS X0, (DX)
	VMOVUPS X4, 16(DX)
	VZEROUPPER
	RET

// func dot1x1(e *float32, x *float32, n int) float32
//
// dot1x1 returns <e[:n], x[:n]>, summed in the same order as in dot3x4
// and dot8x1, for products with fewer rows than those kernels take.
TEXT ·dot1x1(SB), NOSPLIT, $0-28
	MOVQ e+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX

	VXORPS Y0, Y0, Y0
	MOVQ   CX, BX
	SHRQ   $3, BX
	JZ     reduce1x1

loop1x1:
	VMOVUPS     (DI), Y8
	VFMADD231PS (SI), Y8, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        BX
	JNZ         loop1x1

reduce1x1:
	// Lane 0 of X0 = ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)), as REDUCE4.
	VHADDPS      Y0, Y0, Y0
	VHADDPS      Y0, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0

	ANDQ $7, CX
	JZ   done1x1

tail1x1:
	VMOVSS      (SI), X12
	VMOVSS      (DI), X13
	VFMADD231SS X13, X12, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JNZ         tail1x1

done1x1:
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET
