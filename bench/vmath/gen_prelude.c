/* bench/vmath/gen_prelude.c — writes compiler/vmath.c's prelude and helpers
 * to stdout, so the bench and the tests compile exactly the emitted text;
 * with --cflags, vmath_cflags() on one line instead. */
#include <stdio.h>
#include <string.h>

const char *vmath_prelude(void);
const char *vmath_sigmoid_src(void);
const char *vmath_softplus_src(void);
const char *const *vmath_cflags(void);

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--cflags")) {
        for (const char *const *f = vmath_cflags(); *f; f++) printf("%s%s", *f, f[1] ? " " : "\n");
        return 0;
    }
    fputs(vmath_prelude(), stdout);
    fputs(vmath_sigmoid_src(), stdout);
    fputs(vmath_softplus_src(), stdout);
    return 0;
}
