/*
 * evaluator/hubctl.h: `warden hub cert|diag ...`, which eval_cmd_hub
 * (hubconf.c) hands over. Private to the evaluator module; the functions the
 * API shares are in evaluator.h.
 */
#ifndef WARDEN_EVAL_HUBCTL_H
#define WARDEN_EVAL_HUBCTL_H

#include "evaluator.h"

/* argv[0] is "hub", argv[1] "cert" or "diag". Returns the exit status. */
int hubctl_cmd(int argc, char **argv, struct store *s, const struct config *cfg);

#endif
