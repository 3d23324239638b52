/*
 * evaluator/: the configuration users bring from Azure (security groups,
 * device registry, hub configuration, threat-intelligence lists) and the
 * scheduled evaluation that turns stored data into alerts and
 * recommendations (SPEC 4 and 5).
 */
#ifndef WARDEN_EVALUATOR_H
#define WARDEN_EVALUATOR_H

#include "../common/common.h"
#include "../store/store.h"

/*
 * Command-line entry points. argv[0] is the command ("groups", "registry",
 * "hub", "intel"); each returns the exit status (0, 1 runtime, 2 usage or
 * invalid input) and prints its own errors, naming the offending item.
 */
int eval_cmd_groups(int argc, char **argv, struct store *s);   /* import F [--name N] | export NAME | list */
int eval_cmd_registry(int argc, char **argv, struct store *s); /* import F */
int eval_cmd_hub(int argc, char **argv, struct store *s, const struct config *cfg); /* import F */
int eval_cmd_intel(int argc, char **argv, struct store *s);    /* load F [--name N] | list | drop N */

#endif
