// AVX2+FMA kernels of expScaled and expSums (exp.go, exp_amd64.go): the
// same reduction, table and polynomial as expScaledGo, four lanes at a
// time, the table entries gathered (VPGATHERQQ) and the polynomial in FMAs.

#include "textflag.h"

// Constants, each in four lanes (32 bytes) for memory operands.
// 0: 128/ln2
DATA expC<>+0(SB)/8, $0x40671547652b82fe
DATA expC<>+8(SB)/8, $0x40671547652b82fe
DATA expC<>+16(SB)/8, $0x40671547652b82fe
DATA expC<>+24(SB)/8, $0x40671547652b82fe
// 32: 0x1.8p52
DATA expC<>+32(SB)/8, $0x4338000000000000
DATA expC<>+40(SB)/8, $0x4338000000000000
DATA expC<>+48(SB)/8, $0x4338000000000000
DATA expC<>+56(SB)/8, $0x4338000000000000
// 64: Ln2Hi/128
DATA expC<>+64(SB)/8, $0x3f762e42fee00000
DATA expC<>+72(SB)/8, $0x3f762e42fee00000
DATA expC<>+80(SB)/8, $0x3f762e42fee00000
DATA expC<>+88(SB)/8, $0x3f762e42fee00000
// 96: Ln2Lo/128
DATA expC<>+96(SB)/8, $0x3d7a39ef35793c76
DATA expC<>+104(SB)/8, $0x3d7a39ef35793c76
DATA expC<>+112(SB)/8, $0x3d7a39ef35793c76
DATA expC<>+120(SB)/8, $0x3d7a39ef35793c76
// 128: 1/120
DATA expC<>+128(SB)/8, $0x3f81111111111111
DATA expC<>+136(SB)/8, $0x3f81111111111111
DATA expC<>+144(SB)/8, $0x3f81111111111111
DATA expC<>+152(SB)/8, $0x3f81111111111111
// 160: 1/24
DATA expC<>+160(SB)/8, $0x3fa5555555555555
DATA expC<>+168(SB)/8, $0x3fa5555555555555
DATA expC<>+176(SB)/8, $0x3fa5555555555555
DATA expC<>+184(SB)/8, $0x3fa5555555555555
// 192: 1/6
DATA expC<>+192(SB)/8, $0x3fc5555555555555
DATA expC<>+200(SB)/8, $0x3fc5555555555555
DATA expC<>+208(SB)/8, $0x3fc5555555555555
DATA expC<>+216(SB)/8, $0x3fc5555555555555
// 224: 1/2
DATA expC<>+224(SB)/8, $0x3fe0000000000000
DATA expC<>+232(SB)/8, $0x3fe0000000000000
DATA expC<>+240(SB)/8, $0x3fe0000000000000
DATA expC<>+248(SB)/8, $0x3fe0000000000000
// 256: 1
DATA expC<>+256(SB)/8, $0x3ff0000000000000
DATA expC<>+264(SB)/8, $0x3ff0000000000000
DATA expC<>+272(SB)/8, $0x3ff0000000000000
DATA expC<>+280(SB)/8, $0x3ff0000000000000
// 288: -708.3
DATA expC<>+288(SB)/8, $0xc086226666666666
DATA expC<>+296(SB)/8, $0xc086226666666666
DATA expC<>+304(SB)/8, $0xc086226666666666
DATA expC<>+312(SB)/8, $0xc086226666666666
// 320: 127 (table index)
DATA expC<>+320(SB)/8, $0x000000000000007f
DATA expC<>+328(SB)/8, $0x000000000000007f
DATA expC<>+336(SB)/8, $0x000000000000007f
DATA expC<>+344(SB)/8, $0x000000000000007f
// 352: 0 (upper bound)
DATA expC<>+352(SB)/8, $0x0000000000000000
DATA expC<>+360(SB)/8, $0x0000000000000000
DATA expC<>+368(SB)/8, $0x0000000000000000
DATA expC<>+376(SB)/8, $0x0000000000000000
GLOBL expC<>(SB), RODATA|NOPTR, $384

// EXP4 sets Y2 = e^t for the four lanes of Y0 = t and ORs into Y9 the lanes
// where t is outside [-708.3, 0] or NaN (those of Y2 are then garbage). It
// needs R8 = &expTable and Y11 = -708.3, and clobbers Y0-Y7. In turn: the
// range checks (NLE_UQ, true for NaN); kd = t*128/ln2 + shift, which holds
// 128k+j in its low bits; j and k in the exponent field; kd as a float;
// r = t - kd*ln2/128 in two parts; s = 2^k expTable[j] (gathered);
// p = r(1 + r(1/2 + r(1/6 + r(1/24 + r/120)))); e^t = s + s*p.
#define EXP4 \
	VCMPPD       $0x16, expC<>+352(SB), Y0, Y6 \
	VCMPPD       $0x16, Y0, Y11, Y7 \
	VORPD        Y6, Y9, Y9 \
	VORPD        Y7, Y9, Y9 \
	VMOVUPD      expC<>+32(SB), Y1 \
	VFMADD231PD  expC<>+0(SB), Y0, Y1 \
	VPAND        expC<>+320(SB), Y1, Y3 \
	VPSRLQ       $7, Y1, Y4 \
	VPSLLQ       $52, Y4, Y4 \
	VSUBPD       expC<>+32(SB), Y1, Y1 \
	VFNMADD231PD expC<>+64(SB), Y1, Y0 \
	VFNMADD231PD expC<>+96(SB), Y1, Y0 \
	VPCMPEQQ     Y7, Y7, Y7 \
	VPGATHERQQ   Y7, (R8)(Y3*8), Y5 \
	VPADDQ       Y4, Y5, Y5 \
	VMOVUPD      expC<>+128(SB), Y2 \
	VFMADD213PD  expC<>+160(SB), Y0, Y2 \
	VFMADD213PD  expC<>+192(SB), Y0, Y2 \
	VFMADD213PD  expC<>+224(SB), Y0, Y2 \
	VFMADD213PD  expC<>+256(SB), Y0, Y2 \
	VMULPD       Y0, Y2, Y2 \
	VFMADD213PD  Y5, Y5, Y2

// HSUM sets the low lane of X(r) to the sum of the four lanes of Y(r), as
// (l0+l2) + (l1+l3); it clobbers X(tmp).
#define HSUM(yr, xr, xtmp) \
	VEXTRACTF128 $1, yr, xtmp \
	VADDPD       xtmp, xr, xr \
	VHADDPD      xr, xr, xr

// func expScaledAVX2(dst, x *float64, n int, scale, shift float64) (inRange bool)
//
// expScaledAVX2 sets dst[i] = e^(scale*x[i] - shift) for i < n, n a
// multiple of 4, for every argument t = scale*x[i] - shift (rounded after
// the product, as in Go) in [-708.3, 0]. It reports whether they all were:
// lanes outside (NaN included) hold garbage for the caller to redo.
TEXT ·expScaledAVX2(SB), NOSPLIT, $0-41
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSD scale+24(FP), Y15
	VBROADCASTSD shift+32(FP), Y14
	VMOVUPD      expC<>+288(SB), Y11
	VXORPD       Y9, Y9, Y9 // lanes out of range so far
	LEAQ         ·expTable(SB), R8
	XORQ         AX, AX

scaledLoop:
	CMPQ    AX, CX
	JAE     scaledDone
	VMOVUPD (SI)(AX*8), Y0
	VMULPD  Y15, Y0, Y0 // scale*x
	VSUBPD  Y14, Y0, Y0 // t = scale*x - shift
	EXP4
	VMOVUPD Y2, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     scaledLoop

scaledDone:
	VMOVMSKPD Y9, AX
	TESTL     AX, AX
	SETEQ     inRange+40(FP)
	VZEROUPPER
	RET

// func expSumsAVX2(e, d *float64, n int, alpha float64, sums *[3]float64) (inRange bool)
//
// expSumsAVX2 sets e[i] = e^(alpha*d[i]) for i < n, n a multiple of 4, and
// sums = [sum e_i, sum e_i d_i, sum (e_i d_i) d_i], each in four lanes
// (i mod 4) added as (l0+l2) + (l1+l3). It reports whether every alpha*d[i]
// was in [-708.3, 0]; if not, e and sums are garbage where it was not.
TEXT ·expSumsAVX2(SB), NOSPLIT, $0-41
	MOVQ         e+0(FP), DI
	MOVQ         d+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSD alpha+24(FP), Y15
	MOVQ         sums+32(FP), DX
	VMOVUPD      expC<>+288(SB), Y11
	VXORPD       Y9, Y9, Y9   // lanes out of range so far
	VXORPD       Y13, Y13, Y13 // sum e
	VXORPD       Y10, Y10, Y10 // sum e d
	VXORPD       Y8, Y8, Y8   // sum e d d
	LEAQ         ·expTable(SB), R8
	XORQ         AX, AX

sumsLoop:
	CMPQ        AX, CX
	JAE         sumsDone
	VMOVUPD     (SI)(AX*8), Y12
	VMULPD      Y15, Y12, Y0 // t = alpha*d
	EXP4
	VMOVUPD     Y2, (DI)(AX*8)
	VADDPD      Y2, Y13, Y13
	VMULPD      Y12, Y2, Y3
	VADDPD      Y3, Y10, Y10
	VFMADD231PD Y12, Y3, Y8
	ADDQ        $4, AX
	JMP         sumsLoop

sumsDone:
	HSUM(Y13, X13, X0)
	HSUM(Y10, X10, X0)
	HSUM(Y8, X8, X0)
	VMOVSD    X13, 0(DX)
	VMOVSD    X10, 8(DX)
	VMOVSD    X8, 16(DX)
	VMOVMSKPD Y9, AX
	TESTL     AX, AX
	SETEQ     inRange+40(FP)
	VZEROUPPER
	RET
