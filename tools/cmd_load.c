/* `larder load IN OUT.npy`: convert a larder file (any whole-file codec, found by magic; "-"
 * reads standard input) holding an array — or a tree, with --entry KEYPATH naming the array —
 * into a .npy file; OUT "-" writes standard output. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/cli.h"

static int usage(FILE *f, int code)
{
	fprintf(f, "usage: larder load IN|- OUT.npy|- [--entry KEYPATH] [--max-bytes SIZE]\n\n"
	           "Write the array of a larder file as .npy (OUT '-': to standard output).\n"
	           "--entry picks an array inside a tree\n"
	           "('layers/0/weights': map keys and list indices separated by '/').\n"
	           "--max-bytes bounds what loading may build (default: 4G, or 16 x the file's\n"
	           "size if larger; 'unlimited' for none).\n");
	return code;
}

/* A larder file that is not whole-file compressed is mapped, its checksums verified, and the
 * .npy written straight from the map: one copy, as cp makes. Anything else (a whole-file codec,
 * a file that cannot be mapped) gives LRD_EINVAL and is read through a stream instead. */
static int load_mapped(const char *in, const char *entry, const lrd_load_options *lo,
                       lrd_value **root)
{
	lrd_load_options o = *lo;
	o.mmap = o.verify = true;
	int rc = entry ? lrd_load_entry(in, entry, root, &o) : lrd_load(in, root, &o);
	return rc == LRD_EUNSUPPORTED ? LRD_EINVAL : rc;
}

int cmd_load(int argc, char **argv)
{
	const char *in = NULL, *out = NULL, *entry = NULL, *v;
	lrd_load_options lo = {0};
	int m;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i]))
			return usage(stdout, CLI_OK);
		if ((m = cli_max_bytes(argc, argv, &i, &lo)) != 0) {
			if (m < 0)
				return CLI_USAGE;
		} else if ((m = cli_opt(argc, argv, &i, "--entry", &v)) != 0) {
			if (m < 0)
				return CLI_USAGE;
			entry = v;
		} else if (cli_operand2(argv[0], argv[i], &in, &out)) {
			return usage(stderr, CLI_USAGE);
		}
	}
	if (!in || !out)
		return usage(stderr, CLI_USAGE);
	if (cli_output_check(argv[0], in, out))
		return CLI_FAIL;
	lrd_value *root = NULL;
	struct stat st; /* map only a regular file: a pipe would lose what a failed try read */
	int rc = strcmp(in, "-") && stat(in, &st) == 0 && S_ISREG(st.st_mode)
	             ? load_mapped(in, entry, &lo, &root)
	             : LRD_EINVAL;
	if (rc == LRD_EINVAL) {
		lrd_stream *s;
		if ((rc = cli_open_input(in, &s)))
			return cli_fail(rc, in);
		/* a pipe is loaded whole and the entry taken from it, by the same path rules */
		rc = entry ? lrd_load_entry_stream(s, entry, &root, &lo)
		           : lrd_load_stream(s, &root, &lo);
		lrd_stream_close(s);
	}
	if (rc)
		return cli_fail(rc, in);
	const lrd_value *a = root;
	if (lrd_value_kind(a) != LRD_KIND_ARRAY) {
		fprintf(stderr, "larder load: %s%s%s holds a %s, not an array%s\n", in,
		        entry ? " entry " : "", entry ? entry : "",
		        lrd_kind_name(lrd_value_kind(a)), entry ? "" : " (use --entry KEYPATH)");
		lrd_value_free(root);
		return CLI_FAIL;
	}
	rc =
	    strcmp(out, "-") == 0 ? lrd_npy_save_file(a, stdout, NULL) : lrd_npy_save(a, out, NULL);
	lrd_value_free(root);
	return rc ? cli_fail(rc, out) : CLI_OK;
}
