/* bench/vmath/bench_model.c — µs per call of an emitted model's f and f_vjp
 * (B = 20, seeded state, θ from init_params; fastest of 7 runs), for each shared object on the
 * command line (the same model compiled with different flags by run.sh),
 * plus the largest relative difference of their outputs from the first's.
 * Usage: bench_model SYMBOL a.so [b.so ...]   (SYMBOL: <name>_model) */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nodec_model.h"

enum { B = 20, RUNS = 7 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: bench_model SYMBOL a.so [b.so ...]\n"), 2;
    double *ref = NULL;
    long nref = 0;
    printf("%-40s %10s %10s %12s\n", "object", "f (us)", "f_vjp (us)", "max rel diff");
    for (int a = 2; a < argc; a++) {
        void *dl = dlopen(argv[a], RTLD_NOW | RTLD_LOCAL);
        const nodec_model *m = dl ? dlsym(dl, argv[1]) : NULL;
        if (!m) return fprintf(stderr, "%s: %s\n", argv[a], dlerror()), 1;
        int ns = m->n_state, np = m->n_param;
        double *z = malloc(sizeof(double) * B * ns), *th = malloc(sizeof(double) * np);
        double *av = malloc(sizeof(double) * B * ns), *w = malloc(sizeof(double) * (m->work_size + 1));
        long nout = 2L * B * ns + np + 1;
        double *out = malloc(sizeof(double) * nout);
        m->init_params(th, 7);
        for (int i = 0; i < B * ns; i++) z[i] = sin(1.0 + i), av[i] = cos(2.0 + i);
        double t_f = 0, t_fv = 0;
        for (int which = 0; which < 2; which++) {
            long reps = 1;
            double s[RUNS];
            for (int k = -1; k < RUNS; k++) {
                double t0 = now();
                for (long r = 0; r < reps; r++) {
                    if (which == 0)
                        m->f(B, 0.5, z, th, out, w);
                    else
                        m->f_vjp(B, 0.5, z, th, av, out, out + B * ns, out + 2 * B * ns, out + nout - 1, w);
                }
                double t = now() - t0;
                if (k < 0)
                    reps = (long)(reps * 0.02 / t) + 1; /* ~20 ms a run */
                else
                    s[k] = t / reps * 1e6;
            }
            qsort(s, RUNS, sizeof *s, cmp);
            *(which ? &t_fv : &t_f) = s[0];
        }
        m->f(B, 0.5, z, th, out, w); /* out: f, then f_vjp's az, aθ, at after it */
        m->f_vjp(B, 0.5, z, th, av, out + B * ns, out + B * ns, out + 2 * B * ns, out + nout - 1, w);
        double d = 0;
        if (!ref)
            ref = out, nref = nout;
        else
            for (long i = 0; i < nout && i < nref; i++)
                if (ref[i] != out[i]) d = fmax(d, fabs(out[i] - ref[i]) / fmax(fabs(ref[i]), 1e-300));
        printf("%-40s %10.2f %10.2f %12.2e\n", argv[a], t_f, t_fv, d);
        free(z), free(th), free(av), free(w);
        if (out != ref) free(out);
    }
    free(ref);
    return 0;
}
