/* Helpers shared by the subcommands: option values, number and size parsing, comma lists and
 * JSON string output. Pure functions over their arguments; no state. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/cli.h"

int cli_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*val = arg + n + 1;
		return 1;
	}
	if (arg[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "larder %s: option %s needs a value\n", argv[0], name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

int cli_operand2(const char *argv0, const char *arg, const char **in, const char **out)
{
	if (arg[0] == '-' && arg[1]) {
		fprintf(stderr, "larder %s: unknown option '%s'\n", argv0, arg);
		return -1;
	}
	const char **slot = !*in ? in : !*out ? out : NULL;
	if (!slot)
		return -1;
	*slot = arg;
	return 0;
}

int cli_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_size(const char *s, size_t unit, size_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	if (*end) {
		static const struct {
			const char *suffix;
			size_t unit;
		} units[] = {{"B", 1},          {"K", 1ul << 10},   {"KiB", 1ul << 10},
		             {"M", 1ul << 20},  {"MiB", 1ul << 20}, {"G", 1ul << 30},
		             {"GiB", 1ul << 30}};
		size_t k = 0;
		while (k < sizeof units / sizeof units[0] && strcmp(end, units[k].suffix) != 0)
			k++;
		if (k == sizeof units / sizeof units[0])
			return -1;
		unit = units[k].unit;
	}
	double bytes = v * (double)unit;
	if (bytes >= (double)(SIZE_MAX / 2))
		return -1;
	*out = (size_t)bytes;
	return 0;
}

int cli_max_bytes(int argc, char **argv, int *i, lrd_load_options *o)
{
	const char *val;
	size_t n;
	int m = cli_opt(argc, argv, i, "--max-bytes", &val);
	if (m <= 0)
		return m;
	if (strcmp(val, "unlimited") == 0) {
		o->max_total_bytes = UINT64_MAX;
		return 1;
	}
	if (cli_parse_size(val, 1, &n) || n == 0) {
		fprintf(stderr,
		        "larder %s: bad --max-bytes '%s' (a size such as 512M or 8G, or "
		        "'unlimited')\n",
		        argv[0], val);
		return -1;
	}
	o->max_total_bytes = n;
	return 1;
}

int cli_codec_arg(const char *argv0, const char *opt, const char *spec, unsigned need)
{ /* the library's message names the spec or its codec */
	const lrd_codec *c;
	int level;
	if (lrd_codec_parse(spec, need, &c, &level) == LRD_OK)
		return 0;
	fprintf(stderr, "larder %s: %s: %s\n", argv0, opt, lrd_errmsg());
	return -1;
}

int cli_chunk_size_arg(const char *argv0, const char *val, size_t *out)
{
	if (cli_parse_size(val, 1, out) != 0) {
		fprintf(stderr, "larder %s: --chunk-size '%s': not a size (e.g. 64K, 4M)\n", argv0,
		        val);
		return -1;
	}
	if (lrd_chunk_size_check(*out) != LRD_OK) {
		fprintf(stderr, "larder %s: --chunk-size '%s': %s\n", argv0, val, lrd_errmsg());
		return -1;
	}
	return 0;
}

size_t cli_split(char *s, char **parts, size_t max)
{
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (n < max)
			parts[n++] = t;
	return n;
}

void cli_json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* Open FILE or "-" (standard input) for reading. */
int cli_open_input(const char *name, lrd_stream **s)
{
	if (strcmp(name, "-") == 0)
		return lrd_stream_open_fd(0, "r", s);
	return lrd_stream_open_path(name, "r", s);
}

int cli_output_check(const char *argv0, const char *in, const char *out)
{
	struct stat a, b;
	if (!in || !out || strcmp(in, "-") == 0 || strcmp(out, "-") == 0 || stat(in, &a) != 0 ||
	    stat(out, &b) != 0 || !S_ISREG(b.st_mode))
		return 0;
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		fprintf(stderr, "larder %s: '%s' is also the input ('%s'): write to another file\n",
		        argv0, out, in);
		return -1;
	}
	return 0;
}

void cli_print_key(FILE *f, const char *key)
{
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else if (*p == '\\')
			fputs("\\\\", f);
		else
			fputc(*p, f);
	}
}
