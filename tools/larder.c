/* `larder`: entry point and subcommand dispatch. */
#include <stdio.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"

static const struct cli_cmd commands[] = {
    {"demo", "a short tour of larder on generated data", cmd_demo},
    {"codecs", "list the codecs: built-ins, plugins, refused plugins", cmd_codecs},
    {"bench", "compression ratio and speed of the codecs", cmd_bench},
    {"dump", "convert a .npy file into a larder file", cmd_dump},
    {"load", "convert a larder file holding an array into .npy", cmd_load},
    {"info", "describe a larder file: codec, format, value tree, chunks", cmd_info},
    {"verify", "check every checksum of a larder file or store", cmd_verify_any},
    {"ls", "list the keys of a store", cmd_ls},
    {"rm", "delete objects from a store", cmd_rm},
    {"stat", "totals of a store: objects, bytes per codec, map", cmd_stat},
    {"put", "store the value of a .lrd file under a key", cmd_put},
    {"get", "write the value under a key to a .lrd file", cmd_get},
    {"compact", "write a compacted copy of a store", cmd_compact},
    {"memo", "the memoizer's cache in a store: stats, ls, clear, reduce", cmd_memo},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
	fprintf(f, "usage: larder [--version] [--help] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	        "\n'larder COMMAND --help' describes a command.\n"
	        "exit status: 0 success, 1 failure, 2 usage error, 3 verification found damage\n");
}

const char *cli_command;

int cli_fail(int rc, const char *what)
{
	const char *msg = lrd_errmsg();
	if (!msg[0])
		msg = lrd_strerror(rc);
	if (!what[0]) { /* an empty operand: say so, not "larder: : ..." */
		fprintf(stderr, "larder: '' (an empty path): %s\n", msg);
		return CLI_FAIL;
	}
	/* the library's message names the path or the step already ("'OUT': Is a directory",
	 * "compact: ..."): not twice */
	size_t n = strlen(what);
	char quoted[4200];
	snprintf(quoted, sizeof quoted, "'%s'", what);
	bool named = strstr(msg, quoted) || (strncmp(msg, what, n) == 0 && msg[n] == ':');
	if (named)
		fprintf(stderr, "larder: %s\n", msg);
	else
		fprintf(stderr, "larder: %s: %s\n", what, msg);
	return CLI_FAIL;
}

bool cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

bool cli_tty(void) { return isatty(STDERR_FILENO) == 1; }

/* Every command's output reaches its stream or the command fails: stdout on a full disk or
 * /dev/full must not exit 0. */
static int finish(const char *name, int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "larder %s: writing standard output: %s\n", name, strerror(errno));
		return status == 0 ? 1 : status;
	}
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	/* past a file size limit (`ulimit -f`) a write fails with EFBIG, reported like any
	 * other write error, instead of SIGXFSZ killing larder with its temporary files left */
	signal(SIGXFSZ, SIG_IGN);
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return finish("--help", CLI_OK);
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("larder %s\n", lrd_version_string());
		return finish(argv[1], CLI_OK);
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0) {
			cli_command = commands[i].name;
			return finish(commands[i].name, commands[i].run(argc - 1, argv + 1));
		}
	fprintf(stderr, "larder: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
