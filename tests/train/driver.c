/* driver.c — `nodec train` for the tests, before the compiler links it:
 * the emitted models of tests/train/CMakeLists.txt and nodec_cli_train.
 *
 *     train_driver MODEL train …     nodec_cli_train(&MODEL_model, …)
 *     train_driver MODEL main PROG … nodec_cli_train_main with argv[0] = PROG,
 *                                    as a trainer made by `nodec build`
 *     train_driver MODEL solve …     nodec_cli_solve (to make data)
 *     train_driver MODEL grad …      nodec_cli_grad
 *     train_driver MODEL params OUT.npz NAME=VALUE…
 *                                    the model's initial θ with scalar
 *                                    parameters set, saved with io.c
 *     train_driver MODEL print P.npz every value of θ in P, `name value`
 *     train_driver MODEL set S.npz NAME=V[,V…]… NAME=…
 *                                    entries of an .npz (a training state)
 *                                    changed: one value fills the entry,
 *                                    or one per element; `NAME=` drops it
 *                                    (values as strtod reads them: nan, inf)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lotka_volterra_edited.h"
#include "lotka_volterra_renamed.h"
#include "nodec_tools.h"
#include "ffjord_hutchinson.h"
#include "ffjord_linear.h"
#include "ffjord_small.h"
#include "driven_oscillator.h"
#include "forced_oscillator.h"
#include "inputs_mix.h"
#include "learned_start.h"
#include "partial_oscillator.h"
#include "lotka_volterra.h"
#include "missing_physics.h"
#include "neural_cde.h"
#include "spiral.h"
#include "spiral_true.h"

static const nodec_model *models[] = {&spiral_model,
                                      &spiral_true_model,
                                      &lotka_volterra_model,
                                      &forced_oscillator_model,
                                      &lotka_volterra_edited_model,
                                      &lotka_volterra_renamed_model,
                                      &missing_physics_model,
                                      &learned_start_model,
                                      &partial_oscillator_model,
                                      &ffjord_small_model,
                                      &ffjord_linear_model,
                                      &ffjord_hutchinson_model,
                                      &driven_oscillator_model,
                                      &inputs_mix_model,
                                      &neural_cde_model};

static int params(const nodec_model *m, int argc, char **argv) {
    if (argc < 1) return fputs("usage: train_driver MODEL params OUT.npz NAME=VALUE…\n", stderr), 2;
    double *theta = calloc((size_t)m->n_param + 1, sizeof *theta);
    m->init_params(theta, 1);
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        int k = 0;
        while (eq && k < m->n_param_vars &&
               (strncmp(m->param_vars[k].name, argv[i], (size_t)(eq - argv[i])) || m->param_vars[k].name[eq - argv[i]]))
            k++;
        if (!eq || k == m->n_param_vars) return fprintf(stderr, "train_driver: no parameter '%s'\n", argv[i]), 2;
        theta[m->param_vars[k].offset] = strtod(eq + 1, NULL);
    }
    char err[1024];
    int rc = nodec_params_save(argv[0], m, theta, err, sizeof err);
    if (rc) fprintf(stderr, "train_driver: %s\n", err);
    free(theta);
    return rc ? 1 : 0;
}

static int print(const nodec_model *m, int argc, char **argv) {
    if (argc != 1) return fputs("usage: train_driver MODEL print P.npz\n", stderr), 2;
    double *theta = calloc((size_t)m->n_param + 1, sizeof *theta);
    char err[1024];
    if (nodec_params_load(argv[0], m, theta, err, sizeof err)) {
        fprintf(stderr, "train_driver: %s\n", err);
        free(theta);
        return 1;
    }
    for (int k = 0; k < m->n_param_vars; k++)
        for (int i = 0; i < m->param_vars[k].size; i++)
            printf("%s%s %.17g\n", m->param_vars[k].name, m->param_vars[k].size > 1 ? "[]" : "",
                   theta[m->param_vars[k].offset + i]);
    free(theta);
    return 0;
}

static int set(int argc, char **argv) {
    if (argc < 2) return fputs("usage: train_driver MODEL set S.npz NAME=V[,V…]…\n", stderr), 2;
    nodec_array *a;
    int n, rc = 1;
    char err[1024];
    if (nodec_npz_load(argv[0], &a, &n, err, sizeof err)) return fprintf(stderr, "train_driver: %s\n", err), 1;
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        int k = 0;
        while (eq && k < n && (strncmp(a[k].name, argv[i], (size_t)(eq - argv[i])) || a[k].name[eq - argv[i]])) k++;
        if (!eq || k == n) {
            fprintf(stderr, "train_driver: %s has no entry '%s'\n", argv[0], argv[i]);
            goto done;
        }
        if (!eq[1]) { /* drop it */
            free(a[k].data);
            a[k] = a[--n];
            continue;
        }
        size_t m = 0;
        for (char *p = eq + 1;; p++) {
            char *end;
            double x = strtod(p, &end);
            if (end == p || m == a[k].size || (*end && *end != ',')) {
                fprintf(stderr, "train_driver: '%s': give one value or %zu\n", argv[i], a[k].size);
                goto done;
            }
            a[k].data[m++] = x;
            if (!*(p = end)) break;
        }
        for (size_t j = m; m == 1 && j < a[k].size; j++) a[k].data[j] = a[k].data[0];
        if (m != 1 && m != a[k].size) {
            fprintf(stderr, "train_driver: '%s': give one value or %zu\n", argv[i], a[k].size);
            goto done;
        }
    }
    if (nodec_npz_save(argv[0], a, n, err, sizeof err))
        fprintf(stderr, "train_driver: %s\n", err);
    else
        rc = 0;
done:
    nodec_arrays_free(a, n);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) return fputs("usage: train_driver MODEL train|solve|grad|params|print|set …\n", stderr), 2;
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        const nodec_model *m = models[i];
        if (strcmp(argv[1], m->name)) continue;
        if (!strcmp(argv[2], "train")) return nodec_cli_train(m, argc - 3, argv + 3);
        if (!strcmp(argv[2], "main") && argc > 3) return nodec_cli_train_main(m, argc - 3, argv + 3);
        if (!strcmp(argv[2], "solve")) return nodec_cli_solve(m, argc - 3, argv + 3);
        if (!strcmp(argv[2], "grad")) return nodec_cli_grad(m, argc - 3, argv + 3);
        if (!strcmp(argv[2], "set")) return set(argc - 3, argv + 3);
        if (!strcmp(argv[2], "params")) return params(m, argc - 3, argv + 3);
        if (!strcmp(argv[2], "print")) return print(m, argc - 3, argv + 3);
        return fprintf(stderr, "train_driver: unknown command '%s'\n", argv[2]), 2;
    }
    return fprintf(stderr, "train_driver: unknown model '%s'\n", argv[1]), 2;
}
