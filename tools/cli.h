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
int cmd_codecs(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_get(int argc, char **argv);
/* `larder verify`: a store (directory, or LMDB file) or a larder file (cmd_verify). */
int cmd_verify_any(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_memo(int argc, char **argv);
/* `larder bench parallel` (tools/cmd_bench_parallel.c), reached through cmd_bench. */
int cmd_bench_parallel(int argc, char **argv);

/* The store stop of the demo tour (tools/demo_store.c). */
int demo_store(const char *path);
/* Before the tour: name on stderr the tour keys that an existing store at path already holds,
 * which demo_store overwrites (a store given with --store may hold a user's own "tour/..."
 * objects). Silent when there is no store. */
void demo_store_warn(const char *path);
/* The memoizer stop (tools/demo_memo.c), over the arrays demo_store left. */
int demo_memo(const char *path);
/* The parallel stop (tools/demo_parallel.c): a pipeline on every backend, with the store. */
int demo_parallel(const char *store);

/* How a subcommand opens its store (cli_store_open). */
enum cli_store_mode {
	CLI_STORE_READ = 0,   /* read-only; a missing store is "no store at ..." */
	CLI_STORE_WRITE = 1,  /* read-write; a missing store is "no store at ..." */
	CLI_STORE_CREATE = 2, /* read-write, creating a missing store (a missing path or a
	                         directory without one), which it reports on stderr as
	                         "larder: created store PATH" */
};
/* Open a store for a subcommand. Prints the error; returns CLI_OK or CLI_FAIL
 * (tools/cmd_store.c). */
int cli_store_open(const char *path, enum cli_store_mode mode, lrd_store **out);

/* Print "larder: <what>: <lrd_errmsg or strerror>" to stderr, leaving out "<what>: " when the
 * message names it already ('<what>' quoted, or at its start); an empty what (an empty
 * operand) is shown as "'' (an empty path)". Returns CLI_FAIL. */
int cli_fail(int rc, const char *what);
/* true if argv[i] is -h or --help. */
bool cli_is_help(const char *arg);
/* true when stderr is a terminal (progress output allowed). */
bool cli_tty(void);

/* ---- tools/cli_util.c ---- */
/* Match option `name` at argv[*i] as "--name VALUE" or "--name=VALUE": 1 and *val set (and *i
 * advanced past a separate value), 0 if argv[*i] is another option, -1 (message printed) if
 * the value is missing. argv[0] is the subcommand name, used in the message. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* Take arg, which is not an option this subcommand knows, as the first free operand of an
 * "IN OUT" subcommand: 0 when stored in *in or *out; -1 for an unknown option (message printed
 * with argv0, the subcommand name) or a third operand. */
int cli_operand2(const char *argv0, const char *arg, const char **in, const char **out);
/* Parse a decimal integer in [min, max]; 0 on success, -1 otherwise. */
int cli_parse_long(const char *s, long min, long max, long *out);
/* Parse a size: a non-negative number, fractions allowed, in units of `unit` bytes unless a
 * suffix says otherwise (B, K/KiB, M/MiB, G/GiB: powers of 1024). 0 on success, -1 otherwise. */
int cli_parse_size(const char *s, size_t unit, size_t *out);
/* Match "--max-bytes SIZE" at argv[*i] (as cli_opt) into o->max_total_bytes: a size as
 * cli_parse_size reads it (bytes unless suffixed), or "unlimited". 1 when matched, 0 for another
 * argument, -1 (message printed) for a missing or bad value. The one home of the option of
 * every command that loads a larder file into memory (load, put). */
int cli_max_bytes(int argc, char **argv, int *i, lrd_load_options *o);
/* Check the value of a codec option (opt: "--codec", "--chunk-codec") as a spec
 * "NAME[:LEVEL]" through lrd_codec_parse, the library's one parser, with the flags the codec
 * needs (LRD_CODEC_STREAM, LRD_CODEC_CHUNK): 0 when it is one; -1 with "larder ARGV0: OPT:
 * reason" printed (the caller exits CLI_USAGE). The library parses the spec again. */
int cli_codec_arg(const char *argv0, const char *opt, const char *spec, unsigned need);
/* Parse the value of --chunk-size: a size (cli_parse_size) checked by lrd_chunk_size_check,
 * the library's rule; 0 on success, -1 with the reason printed (the caller exits CLI_USAGE). */
int cli_chunk_size_arg(const char *argv0, const char *val, size_t *out);
/* Split s in place at commas into at most max non-empty parts; returns how many there were
 * (which may exceed max: the extra ones are dropped). */
size_t cli_split(char *s, char **parts, size_t max);
/* Write a key for a terminal: control bytes as \xNN and a backslash as \\, so that a key
 * can neither move the cursor nor pass for two lines. */
void cli_print_key(FILE *f, const char *key);
/* Write s as a JSON string literal, quotes included ("null" for NULL). */
void cli_json_str(FILE *f, const char *s);
/* 0 when OUT may be written; -1 (message printed, naming subcommand argv0) when OUT is the
 * same file as the input IN (st_dev/st_ino), so writing it would destroy what is read. */
int cli_output_check(const char *argv0, const char *in, const char *out);
/* Open FILE, or standard input for "-", as a reading stream (tools/cmd_info.c). */
int cli_open_input(const char *name, lrd_stream **s);

/* ---- tools/cli_wait.c: the write-lock watchdog ---- */
/* The subcommand running (set by main), for messages. */
extern const char *cli_command;
/* The value of --wait SECONDS (a number > 0): the longest a write command waits for the
 * store's write lock before failing (exit 1). 0 on success, -1 (message printed) otherwise. */
int cli_wait_option(const char *argv0, const char *val);
/* Around each step that takes the write lock of the store at path (a read-write open, a write
 * transaction's begin, a store writer that owns its transaction): after a second armed,
 * "larder CMD: waiting for the write lock on 'PATH' ..." on stderr; past the --wait limit,
 * "gave up waiting ..." and exit status 1. The steps only wait: disarm right after. */
void cli_wait_arm(const char *path);
void cli_wait_disarm(void);

#endif
