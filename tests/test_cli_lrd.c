/* cli_lrd: `larder dump`, `load`, `info` and `verify` run from the build tree as a user runs
 * them, on .npy files written by numpy when /usr/bin/python3 has it, else by larder. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <larder.h>

#include "tests/common/common.h"

static char *dir;

static void setup(void)
{
	dir = tc_tmpdir();
	lrd_value *a;
	lrd_dtype dt;
	uint64_t shape[2] = {300, 70};
	lrd_dtype_parse("<f8", &dt);
	cr_assert_eq(lrd_array_new(dt, 2, shape, LRD_ORDER_C, &a), LRD_OK);
	tc_fill_floats(lrd_array_data(a), 300 * 70);
	char *p = tc_path(dir, "in.npy");
	cr_assert_eq(lrd_npy_save(a, p, NULL), LRD_OK);
	free(p);
	lrd_value_free(a);
}

static void teardown(void)
{
	tc_rmtree(dir);
	free(dir);
}

#define SH(...) tc_sh("cd '%s' && unset LARDER_PLUGIN_PATH && " __VA_ARGS__)

Test(cli_lrd, dump_load_round_trips_with_every_codec_form)
{
	setup();
	cr_assert_eq(SH("'%s' dump in.npy a.lrd", dir, LARDER_EXE), 0);
	cr_assert_eq(SH("'%s' dump in.npy a.lrd.gz", dir, LARDER_EXE), 0);
	cr_assert_eq(SH("gzip -t a.lrd.gz", dir), 0, "a .lrd.gz is a gzip file");
	cr_assert_eq(SH("'%s' dump in.npy a.lrd.xz --codec xz:9", dir, LARDER_EXE), 0);
	cr_assert_eq(SH("xz -t a.lrd.xz", dir), 0);
	cr_assert_eq(
	    SH("'%s' dump in.npy b.lrd --chunk-codec blosc:5 --chunk-size 64K", dir, LARDER_EXE),
	    0);
	const char *files[] = {"a.lrd", "a.lrd.gz", "a.lrd.xz", "b.lrd"};
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(
		    SH("'%s' load %s out.npy && cmp -s in.npy out.npy", dir, LARDER_EXE, files[i]),
		    0, "%s does not convert back to the same .npy", files[i]);
		cr_assert_eq(SH("'%s' verify %s >/dev/null", dir, LARDER_EXE, files[i]), 0);
	}
	cr_assert_eq(SH("'%s' dump in.npy x.lrd --chunk-size 12 2>/dev/null", dir, LARDER_EXE), 2);
	cr_assert_eq(SH("'%s' dump in.npy x.lrd --codec nosuch 2>/dev/null", dir, LARDER_EXE), 2);
	cr_assert_eq(SH("'%s' dump 2>/dev/null", dir, LARDER_EXE), 2);
	teardown();
}

Test(cli_lrd, info_reads_a_pipe_and_prints_json)
{
	setup();
	cr_assert_eq(SH("'%s' dump in.npy a.lrd.gz", dir, LARDER_EXE), 0);
	cr_assert_eq(SH("gzip -dc a.lrd.gz | '%s' info - > info.txt", dir, LARDER_EXE), 0);
	cr_assert_eq(SH("grep -q 'array <f8 (300, 70) C' info.txt", dir), 0);
	cr_assert_eq(SH("'%s' info --json a.lrd.gz > info.json", dir, LARDER_EXE), 0);
	cr_assert_eq(SH("grep -q '\"codec\": \"gzip\"' info.json && "
	                "grep -q '\"shape\": \\[300, 70\\]' info.json",
	                dir),
	             0);
	cr_assert_eq(SH("/usr/bin/python3 -c 'import json,sys; json.load(open(\"info.json\"))' "
	                "2>/dev/null || ! test -x /usr/bin/python3",
	                dir),
	             0, "info --json is not valid JSON");
	cr_assert_eq(SH("'%s' info in.npy 2>err.txt", dir, LARDER_EXE), 1);
	cr_assert_eq(SH("grep -q 'npy' err.txt", dir), 0, "a .npy is named as such");
	teardown();
}

Test(cli_lrd, verify_names_the_first_bad_chunk_and_exits_3)
{
	setup();
	cr_assert_eq(SH("'%s' dump in.npy a.lrd --chunk-size 16K", dir, LARDER_EXE), 0);
	cr_assert_eq(
	    SH("printf '\\001' | dd of=a.lrd bs=1 seek=100000 conv=notrunc 2>/dev/null", dir), 0);
	cr_assert_eq(SH("'%s' verify a.lrd 2>err.txt", dir, LARDER_EXE), 3);
	cr_assert_eq(SH("grep -q 'chunk 6 of' err.txt && grep -q checksum err.txt", dir), 0);
	/* info reads nodes as it goes but prints the tree only for a sound file */
	cr_assert_eq(SH("'%s' info a.lrd >out.txt 2>err.txt", dir, LARDER_EXE), 1);
	cr_assert_eq(SH("test ! -s out.txt && grep -q 'chunk 6 of' err.txt", dir), 0,
	             "info of a damaged file printed a tree");
	cr_assert_eq(SH("'%s' load a.lrd out.npy 2>/dev/null", dir, LARDER_EXE), 1);
	teardown();
}

Test(cli_lrd, max_bytes_bounds_load_and_put_and_is_checked)
{
	setup();
	/* in.npy holds 300 x 70 float64: 168000 bytes */
	cr_assert_eq(SH("'%s' dump in.npy a.lrd.gz", dir, LARDER_EXE), 0);
	cr_assert_eq(SH("'%s' load --max-bytes 100K a.lrd.gz out.npy 2>err", dir, LARDER_EXE), 1);
	cr_assert_eq(
	    SH("grep -q 'a.lrd.gz.*exceed the bound of 102400 bytes.*--max-bytes' err", dir), 0,
	    "the message names the file, the bound and the option");
	cr_assert_eq(SH("'%s' load a.lrd.gz out.npy --max-bytes=1M && cmp -s in.npy out.npy", dir,
	                LARDER_EXE),
	             0);
	cr_assert_eq(
	    SH("cat a.lrd.gz | '%s' load - out.npy --max-bytes 100K 2>/dev/null", dir, LARDER_EXE),
	    1, "the bound holds for a pipe too");
	cr_assert_eq(SH("'%s' load --max-bytes unlimited a.lrd.gz out.npy", dir, LARDER_EXE), 0);
	/* put streams an array file in bounded memory; a tree is loaded, under the bound */
	cr_assert_eq(SH("'%s' put st k a.lrd.gz --max-bytes 100K", dir, LARDER_EXE), 0);
	lrd_value *a, *m;
	char *in = tc_path(dir, "in.npy"), *tree = tc_path(dir, "t.lrd");
	cr_assert_eq(lrd_npy_load(in, &a, NULL), LRD_OK);
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "a", a), LRD_OK);
	cr_assert_eq(lrd_dump(m, tree, NULL), LRD_OK);
	lrd_value_free(m);
	free(in);
	free(tree);
	cr_assert_eq(SH("'%s' put st t t.lrd --max-bytes 100K 2>err", dir, LARDER_EXE), 1);
	cr_assert_eq(SH("grep -q 'exceed the bound of 102400' err", dir), 0);
	cr_assert_eq(SH("'%s' put st t t.lrd --max-bytes 1M", dir, LARDER_EXE), 0);
	for (int i = 0; i < 3; i++) {
		const char *bad[] = {"0", "lots", "-5"};
		cr_assert_eq(
		    SH("'%s' load --max-bytes %s a.lrd.gz out.npy 2>err", dir, LARDER_EXE, bad[i]),
		    2, "--max-bytes %s", bad[i]);
		cr_assert_eq(SH("grep -q 'bad --max-bytes' err", dir), 0);
	}
	teardown();
}
