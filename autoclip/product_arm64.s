// NEON kernels of the similarity product (product_arm64.go). They read
// the first n floats (n a multiple of 4) of each emb row and each frame,
// rows and frames d floats apart; product_arm64.go adds the d%4 tail.
// Every dot product is summed the same way in all kernels: 4 lanes over
// n, then (l0+l1)+(l2+l3).

#include "textflag.h"

// FADDP Vd.4S, Vn.4S, Vm.4S (pairwise add), which the Go assembler lacks:
// Vd = [n0+n1, n2+n3, m0+m1, m2+m3].
#define FADDP4S(m, n, d) WORD $(0x6E20D400 | ((m)<<16) | ((n)<<5) | (d))

// func dot4x4(e *float32, d int, x *float32, n int, out *float32, ostride int)
//
// dot4x4 sets out[f*ostride+r] = <e_r[:n], x_f[:n]> for rows r < 4 and
// frames f < 4 (e_r = e[r*d:], x_f = x[f*d:]): 8 loads per 16 FMAs, 16
// accumulators V(4f+r).
TEXT ·dot4x4(SB), NOSPLIT, $0-48
	MOVD e+0(FP), R0
	MOVD d+8(FP), R1
	LSL  $2, R1, R1
	MOVD x+16(FP), R4
	MOVD n+24(FP), R8
	MOVD out+32(FP), R9
	MOVD ostride+40(FP), R10
	LSL  $2, R10, R10

	ADD R1, R0, R3  // row 1
	ADD R1, R3, R5  // row 2
	ADD R1, R5, R6  // row 3
	ADD R1, R4, R7  // frame 1
	ADD R1, R7, R11 // frame 2
	ADD R1, R11, R12 // frame 3
	// R14 walks the rows two quads ahead (8 rows from R0, contiguous in
	// emb) for software prefetch: 64 bytes a step, as the 4 rows.
	ADD R1<<3, R0, R14

	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16

	LSR $2, R8, R13
	CBZ R13, reduce4x4

loop4x4:
	PRFM   (R14), PLDL1KEEP
	ADD    $64, R14, R14
	VLD1.P 16(R0), [V16.S4]
	VLD1.P 16(R3), [V17.S4]
	VLD1.P 16(R5), [V18.S4]
	VLD1.P 16(R6), [V19.S4]
	VLD1.P 16(R4), [V20.S4]
	VFMLA  V20.S4, V16.S4, V0.S4
	VFMLA  V20.S4, V17.S4, V1.S4
	VFMLA  V20.S4, V18.S4, V2.S4
	VFMLA  V20.S4, V19.S4, V3.S4
	VLD1.P 16(R7), [V21.S4]
	VFMLA  V21.S4, V16.S4, V4.S4
	VFMLA  V21.S4, V17.S4, V5.S4
	VFMLA  V21.S4, V18.S4, V6.S4
	VFMLA  V21.S4, V19.S4, V7.S4
	VLD1.P 16(R11), [V22.S4]
	VFMLA  V22.S4, V16.S4, V8.S4
	VFMLA  V22.S4, V17.S4, V9.S4
	VFMLA  V22.S4, V18.S4, V10.S4
	VFMLA  V22.S4, V19.S4, V11.S4
	VLD1.P 16(R12), [V23.S4]
	VFMLA  V23.S4, V16.S4, V12.S4
	VFMLA  V23.S4, V17.S4, V13.S4
	VFMLA  V23.S4, V18.S4, V14.S4
	VFMLA  V23.S4, V19.S4, V15.S4
	SUBS   $1, R13, R13
	BNE    loop4x4

reduce4x4:
	// Frame f: V24 = [s(0,f), s(1,f), s(2,f), s(3,f)], stored at out[f*ostride:].
	FADDP4S(1, 0, 24)
	FADDP4S(3, 2, 25)
	FADDP4S(25, 24, 24)
	VST1   [V24.S4], (R9)
	ADD    R10, R9, R9
	FADDP4S(5, 4, 24)
	FADDP4S(7, 6, 25)
	FADDP4S(25, 24, 24)
	VST1   [V24.S4], (R9)
	ADD    R10, R9, R9
	FADDP4S(9, 8, 24)
	FADDP4S(11, 10, 25)
	FADDP4S(25, 24, 24)
	VST1   [V24.S4], (R9)
	ADD    R10, R9, R9
	FADDP4S(13, 12, 24)
	FADDP4S(15, 14, 25)
	FADDP4S(25, 24, 24)
	VST1   [V24.S4], (R9)
	RET

// func dot8x1(e *float32, d int, x *float32, n int, out *float32)
//
// dot8x1 sets out[r] = <e_r[:n], x[:n]> for rows r < 8: one frame, 8
// accumulators (8 FMA chains hide the FMA latency).
TEXT ·dot8x1(SB), NOSPLIT, $0-40
	MOVD e+0(FP), R0
	MOVD d+8(FP), R1
	LSL  $2, R1, R1
	MOVD x+16(FP), R4
	MOVD n+24(FP), R8
	MOVD out+32(FP), R9

	ADD R1, R0, R3
	ADD R1, R3, R5
	ADD R1, R5, R6
	ADD R1, R6, R7
	ADD R1, R7, R11
	ADD R1, R11, R12
	ADD R1, R12, R13
	// R15 walks the next 8 rows for software prefetch: 128 bytes a step.
	ADD R1<<3, R0, R15

	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16

	LSR $2, R8, R14
	CBZ R14, reduce8x1

loop8x1:
	PRFM   (R15), PLDL1KEEP
	PRFM   64(R15), PLDL1KEEP
	ADD    $128, R15, R15
	VLD1.P 16(R4), [V16.S4]
	VLD1.P 16(R0), [V17.S4]
	VLD1.P 16(R3), [V18.S4]
	VLD1.P 16(R5), [V19.S4]
	VLD1.P 16(R6), [V20.S4]
	VLD1.P 16(R7), [V21.S4]
	VLD1.P 16(R11), [V22.S4]
	VLD1.P 16(R12), [V23.S4]
	VLD1.P 16(R13), [V24.S4]
	VFMLA  V16.S4, V17.S4, V0.S4
	VFMLA  V16.S4, V18.S4, V1.S4
	VFMLA  V16.S4, V19.S4, V2.S4
	VFMLA  V16.S4, V20.S4, V3.S4
	VFMLA  V16.S4, V21.S4, V4.S4
	VFMLA  V16.S4, V22.S4, V5.S4
	VFMLA  V16.S4, V23.S4, V6.S4
	VFMLA  V16.S4, V24.S4, V7.S4
	SUBS   $1, R14, R14
	BNE    loop8x1

reduce8x1:
	FADDP4S(1, 0, 24)
	FADDP4S(3, 2, 25)
	FADDP4S(25, 24, 24)
	FADDP4S(5, 4, 26)
	FADDP4S(7, 6, 27)
	FADDP4S(27, 26, 25)
	VST1   [V24.S4, V25.S4], (R9)
	RET

// func dot1x1(e *float32, x *float32, n int) float32
//
// dot1x1 returns <e[:n], x[:n]>, summed as in dot4x4 and dot8x1.
TEXT ·dot1x1(SB), NOSPLIT, $0-28
	MOVD e+0(FP), R0
	MOVD x+8(FP), R4
	MOVD n+16(FP), R8

	VEOR V0.B16, V0.B16, V0.B16
	LSR  $2, R8, R14
	CBZ  R14, reduce1x1

loop1x1:
	VLD1.P 16(R4), [V16.S4]
	VLD1.P 16(R0), [V17.S4]
	VFMLA  V16.S4, V17.S4, V0.S4
	SUBS   $1, R14, R14
	BNE    loop1x1

reduce1x1:
	// Lane 0: (l0+l1)+(l2+l3).
	FADDP4S(0, 0, 0)
	FADDP4S(0, 0, 0)
	FMOVS F0, ret+24(FP)
	RET
