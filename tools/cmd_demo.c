/* `larder demo`: a short tour of larder on generated data. Each part of the library adds its
 * stop to the tour. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

static int demo_codecs(void)
{
	size_t n = lrd_codec_count();
	printf("== codecs: %zu registered\n", n);
	for (size_t i = 0; i < n; i++) {
		const lrd_codec *c = lrd_codec_at(i);
		printf("  %-6s id %u\n", c->name, c->id);
	}
	return CLI_OK;
}

int cmd_demo(int argc, char **argv)
{
	const char *store = "larder-demo.store";
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: larder demo [--store DIR]\n\n"
			       "A short tour of larder on generated data.\n"
			       "  --store DIR  the embedded store the tour uses (default ./larder-demo.store)\n");
			return CLI_OK;
		} else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
			store = argv[++i];
		} else {
			fprintf(stderr, "larder demo: unexpected argument '%s'\n", argv[i]);
			return CLI_USAGE;
		}
	}
	printf("larder %s demo (store: %s)\n", lrd_version_string(), store);
	return demo_codecs();
}
