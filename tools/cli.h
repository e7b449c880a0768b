/* The larder CLI: subcommand table and helpers shared by the subcommands. The CLI uses only
 * the public API of liblarder. */
#ifndef LRD_CLI_H
#define LRD_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <larder.h>

/* Exit codes, documented in `larder --help` and README. */
enum {
	CLI_OK = 0,      /* success */
	CLI_FAIL = 1,    /* the operation failed (I/O, corrupt data, …) */
	CLI_USAGE = 2,   /* bad command line */
	CLI_INVALID = 3, /* verify found damaged data */
};

struct cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

/* Every subcommand, one per tools/cmd_*.c file. */
int cmd_demo(int argc, char **argv);

/* Print "larder: <what>: <lrd_errmsg or strerror>" to stderr; return CLI_FAIL. */
int cli_fail(int rc, const char *what);
/* true if argv[i] is -h or --help. */
bool cli_is_help(const char *arg);
/* true when stderr is a terminal (progress output allowed). */
bool cli_tty(void);

#endif
