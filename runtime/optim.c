/* optim.c — placeholder; the optimizers are being written. */
typedef int nodec_optim_placeholder;
