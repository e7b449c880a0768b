/* `larder codecs`: the registered codecs, one row each (name, id, extensions, forms, levels,
 * built-in or plugin with its file, version of the library behind it), then the plugins the
 * automatic scan refused. `--json` gives the same as one JSON object. */
#include <string.h>

#include "tools/cli.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: larder codecs [--json]\n\n"
	    "List the registered codecs: built-ins and plugins loaded from $LARDER_PLUGIN_PATH,\n"
	    "the build tree (when run from it) and the installed plugin directory; then the\n"
	    "plugins that were refused, with the reason.\n"
	    "  --json  one JSON object: {\"codecs\": [{name, id, extensions, kind, origin,\n"
	    "          version, stream, chunk, min_level, max_level, default_level}],\n"
	    "          \"plugin_failures\": [{path, error, message}]}\n");
}

static void join_exts(const lrd_codec *c, char *buf, size_t cap)
{
	buf[0] = 0;
	for (const char *const *e = c->extensions; e && *e; e++) {
		if (buf[0])
			strncat(buf, ",", cap - strlen(buf) - 1);
		strncat(buf, *e, cap - strlen(buf) - 1);
	}
	if (!buf[0])
		snprintf(buf, cap, "-");
}

static const char *forms(const lrd_codec *c)
{
	bool s = c->flags & LRD_CODEC_STREAM, k = c->flags & LRD_CODEC_CHUNK;
	return s && k ? "stream,chunk" : s ? "stream" : k ? "chunk" : "-";
}

static void print_table(void)
{
	printf("%-8s %3s  %-10s %-12s %-11s %-10s %-9s %s\n", "NAME", "ID", "EXTENSIONS", "FORMS",
	       "LEVELS", "VERSION", "KIND", "FILE");
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		const char *origin = lrd_codec_origin(c);
		char exts[64], levels[32];
		join_exts(c, exts, sizeof exts);
		snprintf(levels, sizeof levels, "%d..%d", c->min_level, c->max_level);
		printf("%-8s %3u  %-10s %-12s %-11s %-10s %-9s %s\n", c->name, c->id, exts,
		       forms(c), levels, c->version() ? c->version() : "unknown",
		       origin ? "plugin" : "built-in", origin ? origin : "");
	}
	const char *path, *msg;
	int code;
	for (size_t i = 0; lrd_codec_plugin_failure(i, &path, &code, &msg) == LRD_OK; i++) {
		if (i == 0)
			printf("\nrefused plugins:\n");
		printf("  %s: %s: %s\n", path, lrd_errname(code), msg);
	}
}

static void print_json(void)
{
	printf("{\"codecs\": [");
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		const char *origin = lrd_codec_origin(c);
		printf("%s\n  {\"name\": ", i ? "," : "");
		cli_json_str(stdout, c->name);
		printf(", \"id\": %u, \"extensions\": [", c->id);
		for (const char *const *e = c->extensions; e && *e; e++) {
			printf("%s", e == c->extensions ? "" : ", ");
			cli_json_str(stdout, *e);
		}
		printf("], \"kind\": \"%s\", \"origin\": ", origin ? "plugin" : "built-in");
		cli_json_str(stdout, origin);
		printf(", \"version\": ");
		cli_json_str(stdout, c->version()); /* NULL is written as null */
		printf(", \"stream\": %s, \"chunk\": %s, \"min_level\": %d, \"max_level\": %d, "
		       "\"default_level\": %d}",
		       c->flags & LRD_CODEC_STREAM ? "true" : "false",
		       c->flags & LRD_CODEC_CHUNK ? "true" : "false", c->min_level, c->max_level,
		       c->default_level);
	}
	printf("\n], \"plugin_failures\": [");
	const char *path, *msg;
	int code;
	for (size_t i = 0; lrd_codec_plugin_failure(i, &path, &code, &msg) == LRD_OK; i++) {
		printf("%s\n  {\"path\": ", i ? "," : "");
		cli_json_str(stdout, path);
		printf(", \"error\": \"%s\", \"message\": ", lrd_errname(code));
		cli_json_str(stdout, msg);
		printf("}");
	}
	printf("]}\n");
}

int cmd_codecs(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return CLI_OK;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr, "larder codecs: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (json)
		print_json();
	else
		print_table();
	return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}
