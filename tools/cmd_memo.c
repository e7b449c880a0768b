/* `larder memo stats|ls|clear|reduce`: look after the memoizer's entries in a store (public API
 * only: larder/memo.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/cli.h"

static const char MEMO_USAGE[] =
    "usage: larder memo stats  [--json] [--namespace NS] STORE\n"
    "       larder memo ls     [--json] [--namespace NS] STORE [FUNC]\n"
    "       larder memo clear  [--json] [--namespace NS] [--func NAME] [--wait SECONDS]\n"
    "                          STORE\n"
    "       larder memo reduce [--json] [--namespace NS] [--bytes-limit SIZE]\n"
    "                          [--items-limit N] [--age-limit DURATION] [--wait SECONDS]\n"
    "                          STORE\n\n"
    "The memoizer's cache in a store (larder/memo.h).\n"
    "  stats   hits, misses, entries, bytes, evictions, compute time and time saved\n"
    "  ls      entries (of FUNC): key, function, version, size, last access, compute time\n"
    "  clear   delete every entry, or those of function NAME\n"
    "  reduce  evict least recently used entries until the limits hold, and entries not\n"
    "          accessed for longer than the age limit\n"
    "Options:\n"
    "  --json            machine-readable output (stats: an object; ls: a list)\n"
    "  --namespace NS    the memo's namespace (default: default)\n"
    "  --func NAME       clear: only this function's entries\n"
    "  --bytes-limit SIZE  reduce: stored bytes to keep at most (K, M, G suffixes)\n"
    "  --items-limit N   reduce: entries to keep at most\n"
    "  --age-limit DURATION  reduce: evict entries idle longer (s, m, h, d suffixes)\n"
    "  --wait SECONDS    clear, reduce: fail (exit 1) if another process holds the\n"
    "                    store's write lock longer; default: wait until it ends\n"
    "Exit status: 0 success, 1 failure, 2 bad command line.\n";

struct margs {
	const char *sub, *ns, *func, *store, *operand;
	bool json;
	lrd_memo_limits lim;
};

/* "90", "90s", "1.5m", "2h", "7d" in seconds; -1 if bad. */
static double parse_duration(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	double unit = 1;
	if (*end && !end[1]) {
		switch (*end) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			return -1;
		}
	} else if (*end)
		return -1;
	return v * unit;
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "larder memo: %s%s%s\n%s", msg, arg ? ": " : "", arg ? arg : "",
	        MEMO_USAGE);
	return CLI_USAGE;
}

static int parse_args(int argc, char **argv, struct margs *a)
{
	memset(a, 0, sizeof *a);
	a->sub = argv[1];
	bool is_reduce = !strcmp(a->sub, "reduce"), is_clear = !strcmp(a->sub, "clear");
	for (int i = 2; i < argc; i++) {
		const char *v;
		int r;
		if (!strcmp(argv[i], "--json")) {
			a->json = true;
			continue;
		}
		if ((r = cli_opt(argc, argv, &i, "--namespace", &v)) != 0) {
			if (r < 0)
				return CLI_USAGE;
			a->ns = v;
			continue;
		}
		if ((is_clear || is_reduce) && (r = cli_opt(argc, argv, &i, "--wait", &v)) != 0) {
			if (r < 0 || cli_wait_option(argv[0], v))
				return CLI_USAGE;
			continue;
		}
		if (is_clear && (r = cli_opt(argc, argv, &i, "--func", &v)) != 0) {
			if (r < 0)
				return CLI_USAGE;
			a->func = v;
			continue;
		}
		if (is_reduce && (r = cli_opt(argc, argv, &i, "--bytes-limit", &v)) != 0) {
			size_t n;
			if (r < 0)
				return CLI_USAGE;
			if (cli_parse_size(v, 1, &n) || n == 0)
				return usage_error("bad --bytes-limit", v);
			a->lim.bytes = n;
			continue;
		}
		if (is_reduce && (r = cli_opt(argc, argv, &i, "--items-limit", &v)) != 0) {
			long n;
			if (r < 0)
				return CLI_USAGE;
			if (cli_parse_long(v, 1, 0x7fffffffL, &n))
				return usage_error("bad --items-limit", v);
			a->lim.items = (uint64_t)n;
			continue;
		}
		if (is_reduce && (r = cli_opt(argc, argv, &i, "--age-limit", &v)) != 0) {
			if (r < 0)
				return CLI_USAGE;
			a->lim.age_s = parse_duration(v);
			if (a->lim.age_s <= 0)
				return usage_error(
				    "bad --age-limit (want e.g. 90, 30s, 5m, 2h, 7d)", v);
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return usage_error("unknown option", argv[i]);
		if (!a->store)
			a->store = argv[i];
		else if (!a->operand && !strcmp(a->sub, "ls"))
			a->operand = argv[i];
		else
			return usage_error("too many operands", argv[i]);
	}
	if (!a->store)
		return usage_error("missing STORE", NULL);
	if (is_reduce && !a->lim.bytes && !a->lim.items && a->lim.age_s == 0)
		return usage_error("reduce needs --bytes-limit, --items-limit or --age-limit",
		                   NULL);
	return CLI_OK;
}

static void fmt_time(double t, char *out, size_t cap)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct ls_state {
	bool json;
	unsigned n;
};

static int print_entry(const lrd_memo_entry *e, void *ctx)
{
	struct ls_state *st = ctx;
	char acc[32];
	fmt_time(e->accessed, acc, sizeof acc);
	if (st->json) {
		printf("%s\n {\"key\": \"%s\", \"func\": ", st->n ? "," : "", e->key_hex);
		cli_json_str(stdout, e->func);
		printf(", \"version\": ");
		cli_json_str(stdout, e->version);
		printf(", \"bytes\": %llu, \"created\": %.3f, \"accessed\": %.3f, \"compute_s\": "
		       "%.6f}",
		       (unsigned long long)e->bytes, e->created, e->accessed, e->compute_s);
	} else
		printf("%s  %-20s %-10s %10llu  %s  %10.3fs\n", e->key_hex, e->func,
		       e->version[0] ? e->version : "-", (unsigned long long)e->bytes, acc,
		       e->compute_s);
	st->n++;
	return 0;
}

int cmd_memo(int argc, char **argv)
{
	if (argc < 2 || cli_is_help(argv[1])) {
		fputs(MEMO_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "stats") && strcmp(sub, "ls") && strcmp(sub, "clear") &&
	    strcmp(sub, "reduce"))
		return usage_error("unknown subcommand", sub);
	for (int i = 2; i < argc; i++)
		if (cli_is_help(argv[i])) {
			fputs(MEMO_USAGE, stdout);
			return CLI_OK;
		}
	struct margs a;
	int rc = parse_args(argc, argv, &a);
	if (rc)
		return rc;
	bool write = !strcmp(sub, "clear") || !strcmp(sub, "reduce");
	lrd_store *s;
	if (cli_store_open(a.store, write ? CLI_STORE_WRITE : CLI_STORE_READ, &s))
		return CLI_FAIL;
	lrd_memo *m;
	lrd_memo_options mo = {.name_space = a.ns};
	if (write)
		cli_wait_arm(a.store);
	rc = lrd_memo_open(s, &mo, &m);
	cli_wait_disarm();
	if (rc) {
		lrd_store_close(s);
		return cli_fail(rc, a.store);
	}
	typedef unsigned long long ull;
	if (!strcmp(sub, "stats")) {
		lrd_memo_stats st;
		rc = lrd_memo_stats_get(m, &st);
		if (rc == LRD_OK && a.json)
			printf("{\"hits\": %llu, \"misses\": %llu, \"entries\": %llu, \"bytes\": "
			       "%llu, "
			       "\"evictions\": %llu, \"compute_s\": %.6f, \"saved_s\": %.6f}\n",
			       (ull)st.hits, (ull)st.misses, (ull)st.entries, (ull)st.bytes,
			       (ull)st.evictions, st.compute_s, st.saved_s);
		else if (rc == LRD_OK)
			printf("hits        %llu\nmisses      %llu\nentries     %llu\nbytes       "
			       "%llu\nevictions   %llu\ncompute     %.3fs\nsaved       %.3fs\n",
			       (ull)st.hits, (ull)st.misses, (ull)st.entries, (ull)st.bytes,
			       (ull)st.evictions, st.compute_s, st.saved_s);
	} else if (!strcmp(sub, "ls")) {
		struct ls_state st = {a.json, 0};
		if (a.json)
			printf("[");
		rc = lrd_memo_list(m, a.operand, print_entry, &st);
		if (a.json)
			printf("%s]\n", st.n ? "\n" : "");
	} else {
		uint64_t removed = 0;
		rc = !strcmp(sub, "clear") ? lrd_memo_clear(m, a.func, &removed)
		                           : lrd_memo_reduce(m, &a.lim, &removed);
		if (rc == LRD_OK && a.json)
			printf("{\"removed\": %llu}\n", (ull)removed);
		else if (rc == LRD_OK)
			printf("%llu entries removed\n", (ull)removed);
	}
	lrd_memo_close(m);
	lrd_store_close(s);
	return rc ? cli_fail(rc, sub) : CLI_OK;
}
