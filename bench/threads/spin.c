/* spin.c — the machine's own 1 → 2 thread speed-up on independent work (a
 * control for threads_bench on shared cores). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
static void *work(void *p) { volatile double x = 0; for (long i = 0; i < 400000000L; i++) x += 1e-9; *(double *)p = x; return NULL; }
int main(void) {
    double r[2]; pthread_t th; double t0 = now(); work(&r[0]); work(&r[1]); double t1 = now();
    pthread_create(&th, NULL, work, &r[0]); work(&r[1]); pthread_join(th, NULL); double t2 = now();
    printf("serial %.2f s, 2 threads %.2f s, speed-up %.2fx\n", t1 - t0, t2 - t1, (t1 - t0) / (t2 - t1));
}
