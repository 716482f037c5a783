/* mse.h — the mean-squared-error loss of the hand-written test models
 * (models.c, stiff_models.c): MSE(name, n) defines name_loss and
 * name_loss_grad for states of n components, as nodec emits them. */
#ifndef TESTS_RUNTIME_MSE_H
#define TESTS_RUNTIME_MSE_H

#define MSE(NAME, N)                                                          \
    static double NAME##_loss(int B, const double *p, const double *o,       \
                              double *w)                                      \
    {                                                                         \
        double L = 0;                                                         \
        (void)w;                                                              \
        for (int i = 0; i < B * (N); i++)                                     \
            L += (p[i] - o[i]) * (p[i] - o[i]);                               \
        return L / (N);                                                       \
    }                                                                         \
    static double NAME##_loss_grad(int B, const double *p, const double *o,  \
                                   double *g, double *w)                      \
    {                                                                         \
        for (int i = 0; i < B * (N); i++)                                     \
            g[i] = 2 * (p[i] - o[i]) / (N);                                   \
        return NAME##_loss(B, p, o, w);                                       \
    }

#endif
