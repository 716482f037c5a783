/* train.c — placeholder; the trainer is being written. */
typedef int nodec_train_placeholder;
