/* handwritten_spiral.c — the spiral model's f and VJP written by hand, as the
 * baseline that nodec's emitted C is measured against (bench/README.md).
 *
 *     dz/dt = W2 @ tanh(W1 @ z^3 + b1) + b2,   z[2], W1[50,2], b1[50], W2[2,50], b2[2]
 *
 * θ is laid out as nodec lays it out: W1, b1, W2, b2, each row-major, in
 * declaration order (offsets 0, 100, 150, 250).  A batch of B states is
 * row-major, B × 2.  The code is what a careful C programmer writes for this
 * one model: fixed sizes, `restrict` on the pointers, no intrinsics or
 * manual unrolling.  Signatures match nodec_model.h, so the driver calls
 * either implementation through the same pointer type.
 *
 * Two versions.  hw_spiral_* (the baseline) runs the tanh calls in a loop of
 * their own into a local h[50], then does everything else in one more pass:
 * on x86-64 every xmm register is caller-saved, so a loop that calls tanh
 * and also carries sums spills and reloads them around every call.
 * hw_fused_* is the "obvious" single loop over the hidden layer, kept to show
 * what that costs (bench/README.md).
 */
#include <math.h>
#include <stddef.h>

#define NZ 2
#define NH 50
#define OFF_W1 0
#define OFF_B1 (OFF_W1 + NH * NZ)
#define OFF_W2 (OFF_B1 + NH)
#define OFF_B2 (OFF_W2 + NZ * NH)
#define NTHETA (OFF_B2 + NZ)

void hw_spiral_f(int B, double t, const double *restrict z, const double *restrict theta,
    double *restrict dzdt, double *work)
{
    const double *W1 = theta + OFF_W1, *b1 = theta + OFF_B1;
    const double *W2 = theta + OFF_W2, *b2 = theta + OFF_B2;
    double h[NH];
    (void)t;
    (void)work;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (size_t)b * NZ;
        const double c0 = zb[0] * zb[0] * zb[0], c1 = zb[1] * zb[1] * zb[1];
        for (int j = 0; j < NH; j++) h[j] = W1[j * NZ] * c0 + W1[j * NZ + 1] * c1 + b1[j];
        for (int j = 0; j < NH; j++) h[j] = tanh(h[j]);
        double o0 = 0, o1 = 0;
        for (int j = 0; j < NH; j++) {
            o0 += W2[j] * h[j];
            o1 += W2[NH + j] * h[j];
        }
        dzdt[(size_t)b * NZ] = o0 + b2[0];
        dzdt[(size_t)b * NZ + 1] = o1 + b2[1];
    }
}

/* Reverse mode by hand: with u = z^3, p = W1 u + b1, h = tanh p,
 * g = (W2ᵀa) ⊙ (1 - h²):  az = 3z² ⊙ (W1ᵀg),  aW1 += g uᵀ,  ab1 += g,
 * aW2 += a hᵀ,  ab2 += a.  f does not depend on t, so at = 0. */
void hw_spiral_vjp(int B, double t, const double *restrict z, const double *restrict theta,
    const double *restrict a, double *restrict az, double *restrict atheta, double *restrict at,
    double *work)
{
    const double *W1 = theta + OFF_W1, *b1 = theta + OFF_B1;
    const double *W2 = theta + OFF_W2;
    double h[NH];
    (void)t;
    (void)work;
    if (at) *at = 0;
    if (atheta)
        for (int i = 0; i < NTHETA; i++) atheta[i] = 0;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (size_t)b * NZ;
        const double a0 = a[(size_t)b * NZ], a1 = a[(size_t)b * NZ + 1];
        const double c0 = zb[0] * zb[0] * zb[0], c1 = zb[1] * zb[1] * zb[1];
        for (int j = 0; j < NH; j++) h[j] = W1[j * NZ] * c0 + W1[j * NZ + 1] * c1 + b1[j];
        for (int j = 0; j < NH; j++) h[j] = tanh(h[j]);
        double s0 = 0, s1 = 0; /* W1ᵀg */
        if (atheta) {
            for (int j = 0; j < NH; j++) {
                const double g = (a0 * W2[j] + a1 * W2[NH + j]) * (1.0 - h[j] * h[j]);
                s0 += g * W1[j * NZ];
                s1 += g * W1[j * NZ + 1];
                atheta[OFF_W1 + j * NZ] += g * c0;
                atheta[OFF_W1 + j * NZ + 1] += g * c1;
                atheta[OFF_B1 + j] += g;
                atheta[OFF_W2 + j] += a0 * h[j];
                atheta[OFF_W2 + NH + j] += a1 * h[j];
            }
            atheta[OFF_B2] += a0;
            atheta[OFF_B2 + 1] += a1;
        } else {
            for (int j = 0; j < NH; j++) {
                const double g = (a0 * W2[j] + a1 * W2[NH + j]) * (1.0 - h[j] * h[j]);
                s0 += g * W1[j * NZ];
                s1 += g * W1[j * NZ + 1];
            }
        }
        if (az) {
            az[(size_t)b * NZ] = s0 * 3.0 * zb[0] * zb[0];
            az[(size_t)b * NZ + 1] = s1 * 3.0 * zb[1] * zb[1];
        }
    }
}

/* The fused variant of f: one loop over the hidden layer. */
void hw_fused_spiral_f(int B, double t, const double *restrict z, const double *restrict theta,
    double *restrict dzdt, double *work)
{
    const double *W1 = theta + OFF_W1, *b1 = theta + OFF_B1;
    const double *W2 = theta + OFF_W2, *b2 = theta + OFF_B2;
    (void)t;
    (void)work;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (size_t)b * NZ;
        const double c0 = zb[0] * zb[0] * zb[0], c1 = zb[1] * zb[1] * zb[1];
        double o0 = 0, o1 = 0;
        for (int j = 0; j < NH; j++) {
            const double h = tanh(W1[j * NZ] * c0 + W1[j * NZ + 1] * c1 + b1[j]);
            o0 += W2[j] * h;
            o1 += W2[NH + j] * h;
        }
        dzdt[(size_t)b * NZ] = o0 + b2[0];
        dzdt[(size_t)b * NZ + 1] = o1 + b2[1];
    }
}

/* The fused VJP: the same math as hw_spiral_vjp in one loop. */
void hw_fused_spiral_vjp(int B, double t, const double *restrict z, const double *restrict theta,
    const double *restrict a, double *restrict az, double *restrict atheta, double *restrict at,
    double *work)
{
    const double *W1 = theta + OFF_W1, *b1 = theta + OFF_B1;
    const double *W2 = theta + OFF_W2;
    (void)t;
    (void)work;
    if (at) *at = 0;
    if (atheta)
        for (int i = 0; i < NTHETA; i++) atheta[i] = 0;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (size_t)b * NZ;
        const double a0 = a[(size_t)b * NZ], a1 = a[(size_t)b * NZ + 1];
        const double c0 = zb[0] * zb[0] * zb[0], c1 = zb[1] * zb[1] * zb[1];
        double s0 = 0, s1 = 0; /* W1ᵀg */
        for (int j = 0; j < NH; j++) {
            const double h = tanh(W1[j * NZ] * c0 + W1[j * NZ + 1] * c1 + b1[j]);
            const double g = (a0 * W2[j] + a1 * W2[NH + j]) * (1.0 - h * h);
            s0 += g * W1[j * NZ];
            s1 += g * W1[j * NZ + 1];
            if (atheta) {
                atheta[OFF_W1 + j * NZ] += g * c0;
                atheta[OFF_W1 + j * NZ + 1] += g * c1;
                atheta[OFF_B1 + j] += g;
                atheta[OFF_W2 + j] += a0 * h;
                atheta[OFF_W2 + NH + j] += a1 * h;
            }
        }
        if (az) {
            az[(size_t)b * NZ] = s0 * 3.0 * zb[0] * zb[0];
            az[(size_t)b * NZ + 1] = s1 * 3.0 * zb[1] * zb[1];
        }
        if (atheta) {
            atheta[OFF_B2] += a0;
            atheta[OFF_B2 + 1] += a1;
        }
    }
}
