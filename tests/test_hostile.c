/* hostile: the library and the `larder` program used as a hostile user would: outputs that
 * are inputs, open stores or special files; damaged and truncated stores; FIFOs, devices and
 * directories where a file is expected; pipes as inputs. Table-driven (paths x commands)
 * where the cases are many. Every command runs under `timeout`, so a hang fails the test
 * instead of stalling the suite; 124 is timeout's exit status. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <larder.h>

#include "tests/common/common.h"

static char *dir;

#define SH(...) tc_sh("cd '%s' && unset LARDER_PLUGIN_PATH && " __VA_ARGS__)
#define L       "timeout 20 '" LARDER_EXE "'"

static lrd_value *floats(size_t n)
{
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	uint64_t shape[1] = {n};
	lrd_value *a = NULL;
	cr_assert_eq(lrd_array_new(dt, 1, shape, LRD_ORDER_C, &a), LRD_OK);
	tc_fill_floats(lrd_array_data(a), n);
	return a;
}

/* dir/in.npy, dir/a.lrd (the same array), dir/S: a store with "k" (that array) and "t" (a
 * map holding it). */
static void setup(void)
{
	dir = tc_tmpdir();
	lrd_value *a = floats(5000), *m;
	char *p = tc_path(dir, "in.npy");
	cr_assert_eq(lrd_npy_save(a, p, NULL), LRD_OK);
	free(p);
	p = tc_path(dir, "a.lrd");
	cr_assert_eq(lrd_dump(a, p, NULL), LRD_OK);
	free(p);
	p = tc_path(dir, "S");
	lrd_store *s;
	cr_assert_eq(lrd_store_open(p, NULL, &s), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_store_put(s, NULL, "k", a, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "x", a), LRD_OK); /* takes a */
	cr_assert_eq(lrd_store_put(s, NULL, "t", m, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_value_free(m);
	lrd_store_close(s);
	free(p);
}

static void teardown(void)
{
	tc_rmtree(dir);
	free(dir);
}

/* ---- item 1: an output that is an input or an open store is refused ----------------------- */

Test(hostile, an_output_onto_an_open_store_file_is_refused_and_the_store_survives)
{
	setup();
	const char *outs[] = {"S/data.mdb", "S/lock.mdb"};
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(SH(L " get S k %s 2>err.txt", dir, outs[i]), 1, "%s", outs[i]);
		cr_assert_eq(SH("grep -q 'store that is open' err.txt", dir), 0, "%s", outs[i]);
		cr_assert_eq(SH(L " verify S >/dev/null", dir), 0, "the store survives %s",
		             outs[i]);
	}
	/* the library: lrd_dump onto an open store's data file */
	char *sp = tc_path(dir, "S"), *dp = tc_path(dir, "S/data.mdb");
	lrd_store *s;
	cr_assert_eq(lrd_store_open(sp, NULL, &s), LRD_OK);
	lrd_value *v = floats(10);
	cr_assert_eq(lrd_dump(v, dp, NULL), LRD_EINVAL);
	cr_assert(strstr(lrd_errmsg(), "data.mdb"), "%s", lrd_errmsg());
	cr_assert_eq(lrd_npy_save(v, dp, NULL), LRD_EINVAL);
	lrd_value_free(v);
	lrd_store_close(s);
	cr_assert_eq(SH(L " verify S >/dev/null", dir), 0);
	free(sp);
	free(dp);
	teardown();
}

Test(hostile, an_output_that_is_the_input_is_refused_and_the_input_kept)
{
	setup();
	static const struct {
		const char *cmd, *file;
	} cases[] = {
	    {"dump in.npy in.npy", "in.npy"},
	    {"load a.lrd a.lrd", "a.lrd"},
	    {"dump in.npy ./in.npy", "in.npy"},
	    {"dump in.npy link.npy", "in.npy"},
	};
	cr_assert_eq(SH("ln -s in.npy link.npy", dir), 0);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cr_assert_eq(SH("cp %s before", dir, cases[i].file), 0);
		cr_assert_eq(SH(L " %s 2>err.txt", dir, cases[i].cmd), 1, "%s", cases[i].cmd);
		cr_assert_eq(SH("grep -q 'is also the input' err.txt", dir), 0, "%s", cases[i].cmd);
		cr_assert_eq(SH("cmp -s before %s", dir, cases[i].file), 0, "%s changed its input",
		             cases[i].cmd);
	}
	teardown();
}

/* ---- item 2: a failing command leaves its output as it was ----------------------------------- */

Test(hostile, a_failed_command_leaves_the_old_output_untouched)
{
	setup();
	static const char *cmds[] = {
	    "get --chunk-codec lz44 S k keep.lrd",       "dump in.npy keep.lrd --codec gzp",
	    "dump in.npy keep.lrd --chunk-codec nosuch", "get S nosuchkey keep.lrd",
	    "load a.lrd keep.lrd --entry nosuch",        "get S t keep.npy",
	};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		const char *out = strstr(cmds[i], "keep.npy") ? "keep.npy" : "keep.lrd";
		cr_assert_eq(SH("printf 'precious' > %s", dir, out), 0);
		cr_assert_neq(SH(L " %s 2>/dev/null", dir, cmds[i]), 0, "%s", cmds[i]);
		cr_assert_eq(SH("test \"$(cat %s)\" = precious", dir, out), 0, "%s clobbered %s",
		             cmds[i], out);
		cr_assert_eq(SH("test -z \"$(ls -A | grep '~$')\"", dir), 0,
		             "%s left a temporary file", cmds[i]);
	}
	teardown();
}

Test(hostile, a_checksum_failure_during_get_leaves_the_old_file)
{
	setup();
	char *sp = tc_path(dir, "S");
	lrd_store *s;
	lrd_store_options o = {.chunk_size = 4096};
	cr_assert_eq(lrd_store_open(sp, &o, &s), LRD_OK);
	lrd_value *v = floats(20000);
	double *d = lrd_array_data(v);
	for (size_t i = 0; i < 20000; i++)
		d[i] = 1234.5678 + (double)i;
	cr_assert_eq(lrd_store_put(s, NULL, "big", v, NULL), LRD_OK);
	lrd_value_free(v);
	lrd_store_close(s);
	free(sp);
	/* damage the last chunk's payload: 8-byte doubles 1234.5678 + 19990 */
	double needle = 1234.5678 + 19990.0;
	cr_assert_eq(
	    SH("/usr/bin/python3 -c \"import struct;p='S/data.mdb';b=bytearray(open(p,"
	       "'rb').read());n=struct.pack('<d',%.4f);i=b.find(n);b[i]^=0x5a;open(p,'r+b')"
	       ".write(b)\" 2>/dev/null || perl -e 1",
	       dir, needle),
	    0);
	cr_assert_eq(SH("printf 'precious' > keep.lrd", dir), 0);
	int rc = SH(L " get S big keep.lrd 2>/dev/null", dir);
	if (rc != 0) /* the damage was found: the old file must be intact */
		cr_assert_eq(SH("test \"$(cat keep.lrd)\" = precious", dir), 0);
	teardown();
}

/* ---- item 3: larder removes only files it created -------------------------------------------- */

Test(hostile, a_failing_save_never_removes_a_device_link_or_old_file)
{
	setup();
	cr_assert_eq(SH("ln -s /dev/full full-link", dir), 0);
	static const char *outs[] = {"/dev/full", "full-link"};
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(SH(L " load a.lrd %s 2>err.txt", dir, outs[i]), 1, "%s", outs[i]);
		cr_assert_eq(SH("grep -qi 'space' err.txt", dir), 0, "%s: ENOSPC named", outs[i]);
		cr_assert_eq(SH(L " dump in.npy %s 2>/dev/null", dir, outs[i]), 1, "%s", outs[i]);
	}
	cr_assert_eq(SH("test -c /dev/full && test -L full-link", dir), 0,
	             "a device or link was removed");
	if (getuid() == 0) { /* mknod needs root: the issue's own reproduction */
		cr_assert_eq(SH("mknod myfull c 1 7", dir), 0);
		cr_assert_eq(SH(L " load a.lrd myfull 2>/dev/null", dir), 1);
		cr_assert_eq(SH("test -c myfull", dir), 0, "myfull was removed");
	}
	/* the library: lrd_npy_save of a non-array fails before touching anything; of an array
	 * onto /dev/full fails with LRD_ENOSPC and /dev/full stays */
	lrd_value *v = floats(100000);
	cr_assert_eq(lrd_npy_save(v, "/dev/full", NULL), LRD_ENOSPC, "%s", lrd_errmsg());
	lrd_value_free(v);
	struct stat st;
	cr_assert_eq(stat("/dev/full", &st), 0);
	teardown();
}

Test(hostile, outputs_keep_the_old_files_permissions_and_write_through_a_symlink)
{
	setup();
	cr_assert_eq(SH("printf old > target.lrd && chmod 640 target.lrd && "
	                "ln -s target.lrd via.lrd",
	                dir),
	             0);
	cr_assert_eq(SH(L " dump in.npy via.lrd", dir), 0);
	cr_assert_eq(SH("test -L via.lrd && test \"$(stat -c %%a target.lrd)\" = 640", dir), 0);
	cr_assert_eq(SH(L " verify target.lrd >/dev/null", dir), 0);
	/* special outputs are written directly */
	cr_assert_eq(SH(L " load a.lrd /dev/stdout > out.npy && cmp -s in.npy out.npy", dir), 0);
	cr_assert_eq(SH(L " dump in.npy - | " L " verify - >/dev/null", dir), 0);
	cr_assert_eq(SH(L " load a.lrd /dev/null", dir), 0);
	teardown();
}

/* ---- item 4: damaged stores ---------------------------------------------------------------- */

Test(hostile, a_truncated_store_is_refused_by_every_command)
{
	setup();
	cr_assert_eq(SH("truncate -s 12288 S/data.mdb", dir), 0);
	static const struct {
		const char *cmd;
		int status;
	} cases[] = {
	    {"ls S", 1},           {"ls -l S", 1}, {"stat S", 1},      {"get S k o.lrd", 1},
	    {"put S k2 a.lrd", 1}, {"rm S k", 1},  {"compact S D", 1}, {"verify S", 3},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cr_assert_eq(SH(L " %s >/dev/null 2>err.txt", dir, cases[i].cmd), cases[i].status,
		             "%s", cases[i].cmd);
		cr_assert_eq(SH("grep -q 'S/data.mdb.*12288 bytes.*claim' err.txt", dir), 0,
		             "%s: the path and both sizes are named", cases[i].cmd);
	}
	char *sp = tc_path(dir, "S");
	lrd_store *s;
	cr_assert_eq(lrd_store_open(sp, NULL, &s), LRD_ECORRUPT);
	free(sp);
	teardown();
}

/* Damage the B-tree pages (not the meta pages) in many ways: verify must survive and call it
 * damage (exit 3), whatever LMDB does when it reads them. */
Test(hostile, verify_survives_damaged_btree_pages_and_reports_damage)
{
	setup();
	cr_assert_eq(SH("cp -r S S0", dir), 0);
	unsigned seed = (unsigned)tc_seed();
	for (int c = 0; c < 24; c++) {
		/* page 2.. of the data file: 64 seeded pseudo-random bytes at a seeded spot */
		cr_assert_eq(SH("rm -rf S && cp -r S0 S && size=$(stat -c %%s S/data.mdb) && "
		                "pages=$((size / 4096)) && pg=$((2 + (%u %% (pages - 2)))) && "
		                "off=$((pg * 4096 + (%u %% 4032))) && "
		                "LC_ALL=C awk 'BEGIN { srand(%u); for (i = 0; i < 64; i++) "
		                "printf \"%%c\", int(rand() * 256) }' | "
		                "dd of=S/data.mdb bs=1 seek=$off conv=notrunc 2>/dev/null",
		                dir, seed + (unsigned)c * 7u, seed * 31u + (unsigned)c * 131u,
		                seed ^ (unsigned)c * 2654435761u),
		             0);
		int rc = SH(L " verify S >out.txt 2>err.txt", dir);
		if (rc != 0 && rc != 3)
			SH("cat out.txt err.txt >&2", dir);
		cr_assert(rc == 0 || rc == 3, "case %d: verify exited %d", c, rc);
		if (rc == 3)
			cr_assert_eq(SH("grep -q DAMAGED out.txt err.txt", dir), 0);
	}
	teardown();
}

Test(hostile, verify_names_lmdb_own_code_for_a_corrupt_page)
{
	setup();
	/* overwrite every non-meta page's header flags: LMDB sees pages of the wrong type */
	cr_assert_eq(SH("size=$(stat -c %%s S/data.mdb); p=2; while [ $((p * 4096)) -lt $size ]; "
	                "do printf '\\377\\377' | dd of=S/data.mdb bs=1 seek=$((p * 4096 + 10)) "
	                "conv=notrunc 2>/dev/null; p=$((p + 1)); done",
	                dir),
	             0);
	cr_assert_eq(SH(L " verify S >out.txt 2>err.txt", dir), 3);
	cr_assert_eq(
	    SH("grep -q 'MDB_CORRUPTED\\|MDB_PAGE_NOTFOUND\\|signal' out.txt err.txt", dir), 0);
	cr_assert_neq(SH("grep -q 'MDB_BAD_TXN' out.txt err.txt", dir), 0);
	teardown();
}

/* ---- item 5: compact writes to a temporary name and renames --------------------------------- */

Test(hostile, compact_leaves_no_half_store_and_a_rerun_after_a_kill_works)
{
	setup();
	/* what a killed compact leaves now: a temporary file, which is no store */
	cr_assert_eq(SH("mkdir D && head -c 12288 S/data.mdb > D/.data.mdb.123456~", dir), 0);
	cr_assert_eq(SH(L " compact S D", dir), 0);
	cr_assert_eq(SH(L " verify D >/dev/null", dir), 0);
	cr_assert_eq(SH(L " compact S D 2>err.txt", dir), 1);
	cr_assert_eq(SH("grep -q 'already holds a store' err.txt", dir), 0);
	/* a compact that fails leaves no data.mdb and no directory it made */
	cr_assert_eq(SH("mkdir ro && chmod 500 ro", dir), 0);
	if (getuid() != 0) {
		cr_assert_eq(SH(L " compact S ro/D 2>/dev/null", dir), 1);
		cr_assert_eq(SH("test ! -e ro/D", dir), 0);
	}
	teardown();
}

/* ---- item 13: rm takes any number of keys ---------------------------------------------------- */

Test(hostile, rm_deletes_many_keys_at_once)
{
	setup();
	char *sp = tc_path(dir, "S");
	lrd_store *s;
	cr_assert_eq(lrd_store_open(sp, NULL, &s), LRD_OK);
	lrd_value *v = floats(4);
	char key[16];
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof key, "many/%02d", i);
		cr_assert_eq(lrd_store_put(s, NULL, key, v, NULL), LRD_OK);
	}
	lrd_value_free(v);
	lrd_store_close(s);
	free(sp);
	cr_assert_eq(SH(L " rm S $(seq -f 'many/%%02g' 0 19)", dir), 0);
	cr_assert_eq(SH("test -z \"$(" L " ls S many/)\"", dir), 0);
	teardown();
}

/* ---- item 6: FIFOs and special files never hang -------------------------------------------- */

Test(hostile, fifos_devices_and_directories_where_a_file_is_expected_never_hang)
{
	setup();
	cr_assert_eq(SH("mkfifo fifo && mkdir F && mkfifo F/data.mdb && mkdir P && "
	                "mkfifo P/larder-codec-x.so && mkdir E && : > E/data.mdb",
	                dir),
	             0);
	static const char *cmds[] = {
	    "ls fifo",       "stat fifo",        "verify fifo",     "put S k fifo",
	    "info fifo",     "load fifo o.npy",  "dump fifo o.lrd", "ls F",
	    "verify F",      "put F k a.lrd",    "info S",          "put S k S",
	    "load S o.npy",  "verify /dev/null", "ls /dev/null",    "ls E",
	    "put E k a.lrd", "get S k /tmp",
	};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		int rc = SH(L " %s >/dev/null 2>err.txt </dev/null", dir, cmds[i]);
		cr_assert(rc != 124 && rc != 0 && rc != -1, "%s: exit %d", cmds[i], rc);
		cr_assert_eq(SH("test -s err.txt", dir), 0, "%s: no message", cmds[i]);
	}
	cr_assert_eq(SH("test -p F/data.mdb && test ! -s E/data.mdb", dir), 0,
	             "a FIFO or an empty data file was initialised as a store");
	cr_assert_eq(SH(L " ls E 2>err.txt; grep -q 'empty (0 bytes)' err.txt", dir), 0);
	cr_assert_eq(SH("LARDER_PLUGIN_PATH=$PWD/P " L " codecs >/dev/null 2>&1", dir), 0,
	             "a FIFO among the plugins must be skipped, not dlopen()ed");
	cr_assert_eq(
	    SH("LARDER_PLUGIN_PATH=$PWD/P " L " codecs 2>&1 | grep -q 'not a regular'", dir), 0);
	teardown();
}

/* ---- item 7: sniffing never eats pipe input ------------------------------------------------- */

Test(hostile, pipes_are_read_whole_by_verify_put_info_and_load)
{
	setup();
	cr_assert_eq(SH("bash -c '" L " verify <(cat a.lrd)' >/dev/null", dir), 0);
	cr_assert_eq(SH("cat a.lrd | " L " put S piped /dev/stdin", dir), 0);
	cr_assert_eq(
	    SH(L " get S piped p.lrd && " L " load p.lrd p.npy && cmp -s in.npy p.npy", dir), 0);
	cr_assert_eq(SH("cat a.lrd | " L " info /dev/stdin >/dev/null", dir), 0);
	cr_assert_eq(SH("cat a.lrd | " L " load /dev/stdin q.npy && cmp -s in.npy q.npy", dir), 0);
	teardown();
}

/* ---- item 13: every command checks its output stream ---------------------------------------- */

Test(hostile, every_command_fails_when_its_output_cannot_be_written)
{
	setup();
	static const char *cmds[] = {"ls S",         "ls -l S",    "ls --json S",
	                             "stat S",       "info a.lrd", "verify S",
	                             "verify a.lrd", "codecs",     "codecs --json"};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		cr_assert_eq(SH(L " %s >/dev/full 2>err.txt", dir, cmds[i]), 1, "%s", cmds[i]);
		cr_assert_eq(SH("grep -q 'standard output' err.txt", dir), 0, "%s says why",
		             cmds[i]);
	}
	teardown();
}

/* ---- item 10: a map that cannot be reserved says so and how to ask for less ----------------- */

Test(hostile, a_map_that_cannot_be_reserved_names_the_remedy)
{
	setup();
	/* (a sanitizer build reserves its shadow memory first and cannot start under the limit) */
	if (SH("ulimit -v 1000000 && " L " --version >/dev/null 2>&1", dir) != 0)
		cr_skip_test("larder does not start under ulimit -v 1000000 (sanitizers?)");
	/* the default map shrinks by itself to what the limit leaves */
	cr_assert_eq(SH("ulimit -v 1000000 && " L " ls S >/dev/null", dir), 0);
	cr_assert_eq(SH("ulimit -v 1000000 && " L " put S k2 a.lrd", dir), 0);
	/* a map asked for explicitly that cannot be reserved: said so, with the remedy */
	static const char *cmds[] = {"ls S", "stat S", "put S k3 a.lrd", "get S k o.lrd",
	                             "rm S k2"};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		cr_assert_eq(SH("ulimit -v 1000000 && LARDER_MAP_SIZE=100G " L " %s >/dev/null "
		                "2>err.txt",
		                dir, cmds[i]),
		             1, "%s", cmds[i]);
		cr_assert_eq(
		    SH("grep -q \"'S': could not reserve a map of 102400 MiB\" err.txt && "
		       "grep -q 'LARDER_MAP_SIZE=' err.txt && test $(wc -l < err.txt) -eq 1",
		       dir),
		    0, "%s: one line naming the store, the size and the remedy", cmds[i]);
	}
	cr_assert_eq(SH("ulimit -v 1000000 && LARDER_MAP_SIZE=64M " L " ls S >/dev/null", dir), 0);
	cr_assert_eq(SH(L " ls S | grep -qx k2 && ! " L " ls S | grep -qx k3", dir), 0);
	teardown();
}

/* ---- item 8: one strict entry-path parser, for pipes and paths alike ------------------------ */

Test(hostile, entry_paths_resolve_the_same_from_a_pipe_and_a_path)
{
	setup();
	lrd_value *root, *list, *a0 = floats(10), *a1 = floats(20);
	cr_assert_eq(lrd_value_new_map(&root), LRD_OK);
	cr_assert_eq(lrd_value_new_list(&list), LRD_OK);
	cr_assert_eq(lrd_list_append(list, a0), LRD_OK);
	cr_assert_eq(lrd_list_append(list, a1), LRD_OK);
	cr_assert_eq(lrd_map_set(root, "layers", list), LRD_OK);
	char *p = tc_path(dir, "tree.lrd");
	cr_assert_eq(lrd_dump(root, p, NULL), LRD_OK);
	free(p);
	lrd_value_free(root);
	static const struct {
		const char *entry;
		int status;
	} cases[] = {
	    {"layers/0", 0},  {"layers/1", 0},  {"layers/foo", 1}, {"layers/1x", 1},
	    {"/layers/0", 1}, {"layers/0/", 1}, {"layers//0", 1},  {"layers/2", 1},
	    {"layers/-1", 1}, {"nosuch", 1},    {"layers/01", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int byp =
		    SH(L " load tree.lrd p.npy --entry '%s' 2>/dev/null", dir, cases[i].entry);
		int bypipe = SH("cat tree.lrd | " L " load - q.npy --entry '%s' 2>/dev/null", dir,
		                cases[i].entry);
		cr_assert_eq(byp, cases[i].status, "path, entry '%s'", cases[i].entry);
		cr_assert_eq(bypipe, cases[i].status, "pipe, entry '%s'", cases[i].entry);
		if (cases[i].status == 0)
			cr_assert_eq(SH("cmp -s p.npy q.npy", dir), 0, "entry '%s'",
			             cases[i].entry);
	}
	teardown();
}

/* ---- item 17: keys with control characters are escaped by ls ------------------------------- */

Test(hostile, ls_escapes_control_characters_of_keys)
{
	setup();
	char *sp = tc_path(dir, "S");
	lrd_store *s;
	cr_assert_eq(lrd_store_open(sp, NULL, &s), LRD_OK);
	lrd_value *v = floats(2);
	cr_assert_eq(lrd_store_put(s, NULL, "evil\n\033[2Jkey\\", v, NULL), LRD_OK);
	lrd_value_free(v);
	lrd_store_close(s);
	free(sp);
	cr_assert_eq(SH(L " ls S evil > out.txt && " L " ls -l S evil >> out.txt", dir), 0);
	cr_assert_eq(
	    SH("test $(wc -l < out.txt) -eq 2 && ! grep -q \"$(printf '\\033')\" out.txt", dir), 0,
	    "a key's control characters reached the terminal");
	cr_assert_eq(SH("grep -qF 'evil\\x0a\\x1b[2Jkey\\\\' out.txt", dir), 0);
	teardown();
}

Test(hostile, get_of_a_missing_key_names_the_key)
{
	setup();
	static const char *outs[] = {"o.lrd", "o.npy"};
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(SH(L " get S nosuch %s 2>err.txt", dir, outs[i]), 1);
		cr_assert_eq(SH("grep -q \"no object 'nosuch'\" err.txt", dir), 0, "%s", outs[i]);
	}
	teardown();
}

/* ---- item 14: one chunk-size rule for dump, put and the library ------------------------------ */

Test(hostile, chunk_sizes_follow_one_rule_in_every_command_and_the_library)
{
	setup();
	static const struct {
		const char *size;
		int status; /* 0 accepted, 2 usage error */
	} cases[] = {
	    {"1", 2},  {"0", 2},     {"4095", 2}, {"4K", 0}, {"4096", 0},
	    {"1G", 0}, {"1025M", 2}, {"2G", 2},   {"x", 2},  {"-4K", 2},
	};
	static const char *cmds[] = {"dump in.npy o.lrd --chunk-size %s",
	                             "put --chunk-size %s S c a.lrd"};
	for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++)
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
			char cmd[128];
			snprintf(cmd, sizeof cmd, cmds[c], cases[i].size);
			int rc = SH(L " %s >/dev/null 2>err.txt", dir, cmd);
			cr_expect_eq(rc, cases[i].status, "%s: exit %d", cmd, rc);
			if (cases[i].status)
				cr_expect_eq(
				    SH("grep -q -- '--chunk-size' err.txt && test $(wc -l < "
				       "err.txt) -eq 1",
				       dir),
				    0, "%s: one line naming the option", cmd);
		}
	cr_assert_eq(
	    SH(L " dump in.npy o.lrd --chunk-size 1 2>err.txt; grep -q '4 KiB' err.txt", dir), 0,
	    "the message gives the limits");
	/* the library: the same limits for files, stores and puts; 0 means the default */
	lrd_value *a = floats(1000);
	char *p = tc_path(dir, "lib.lrd"), *sp = tc_path(dir, "S2");
	cr_expect_eq(lrd_dump(a, p, &(lrd_dump_options){.chunk_size = 100}), LRD_EINVAL);
	cr_expect_eq(lrd_dump(a, p, &(lrd_dump_options){.chunk_size = LRD_CHUNK_SIZE_MIN}), LRD_OK);
	lrd_store *s = NULL;
	cr_expect_eq(lrd_store_open(sp, &(lrd_store_options){.chunk_size = 1}, &s), LRD_EINVAL);
	cr_assert_eq(lrd_store_open(sp, NULL, &s), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_put(s, NULL, "k", a, &(lrd_put_options){.chunk_size = 1}),
	             LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "4 KiB"), "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_put(s, NULL, "k", a,
	                           &(lrd_put_options){.chunk_size = LRD_CHUNK_SIZE_MAX + 1}),
	             LRD_EINVAL);
	cr_expect_eq(lrd_store_put(s, NULL, "k", a, &(lrd_put_options){.chunk_size = 4096}),
	             LRD_OK);
	cr_expect_eq(lrd_chunk_size_check(LRD_CHUNK_SIZE_MIN - 1), LRD_EINVAL);
	cr_expect_eq(lrd_chunk_size_check(LRD_CHUNK_SIZE_MAX), LRD_OK);
	lrd_store_close(s);
	lrd_value_free(a);
	free(p);
	free(sp);
	teardown();
}

/* ---- item 15: one strict NAME[:LEVEL] parser for every command and the library --------------- */

Test(hostile, codec_specs_are_parsed_strictly_by_one_parser)
{
	setup();
	static const struct {
		const char *spec;
		int dump;  /* exit of dump --codec SPEC (whole-file) */
		int chunk; /* exit of dump --chunk-codec SPEC, put --codec SPEC, get --chunk-codec
		            */
		const char *why; /* in stderr when refused */
	} cases[] = {
	    {"gzip", 0, 0, NULL},
	    {"gzip:0", 0, 0, NULL},
	    {"gzip:9", 0, 0, NULL},
	    {"gzip:10", 2, 2, "0..9"},
	    {"gzip:-1", 2, 2, "0..9"},
	    {"gzip:x", 2, 2, "not an integer"},
	    {"gzip: 3", 2, 2, "not an integer"},
	    {"gzip:+3", 2, 2, "not an integer"},
	    {"gzip:3x", 2, 2, "not an integer"},
	    {"gzip:", 2, 2, "not an integer"},
	    {"gzip:99999999999999999999", 2, 2, "not an integer"},
	    {"lz4:-65536", 0, 0, NULL},
	    {"lz4:-65537", 2, 2, "-65536..12"},
	    {"lz4:12", 0, 0, NULL},
	    {"blosc:5", 2, 0, "whole files"},
	    {"blosc:0", 2, 0, "whole files"},
	    {"blosc:-1", 2, 2, "blosc"},
	    {"bz2:0", 2, 2, "1..9"},
	    {"raw", 0, 0, NULL},
	    {"none", 0, 0, NULL},
	    {"raw:3", 2, 2, "takes no level"},
	    {"nosuch", 2, 2, "unknown codec"},
	    {":3", 2, 2, "NAME:LEVEL"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *s = cases[i].spec;
		char cmds[4][160];
		int want[4] = {cases[i].dump, cases[i].chunk, cases[i].chunk, cases[i].chunk};
		snprintf(cmds[0], sizeof cmds[0], "dump in.npy o.lrd --codec '%s'", s);
		snprintf(cmds[1], sizeof cmds[1], "dump in.npy o.lrd --chunk-codec '%s'", s);
		snprintf(cmds[2], sizeof cmds[2], "put --codec '%s' S c a.lrd", s);
		snprintf(cmds[3], sizeof cmds[3], "get --chunk-codec '%s' S k o.lrd", s);
		for (int c = 0; c < 4; c++) {
			int rc = SH(L " %s >/dev/null 2>err.txt", dir, cmds[c]);
			cr_expect_eq(rc, want[c], "%s: exit %d", cmds[c], rc);
			if (want[c] && cases[i].why)
				cr_expect_eq(SH("grep -qF -- '%s' err.txt", dir, cases[i].why), 0,
				             "%s: stderr lacks '%s'", cmds[c], cases[i].why);
		}
	}
	/* NAME:0 is level 0 itself: gzip stores, so the file is as large as the plain one */
	cr_assert_eq(SH(L " dump in.npy g0.lrd.gz --codec gzip:0 && " L " dump in.npy p.lrd && "
	                  "gzip -dc g0.lrd.gz | cmp -s - p.lrd && "
	                  "test $(wc -c < g0.lrd.gz) -gt $(wc -c < p.lrd)",
	                dir),
	             0);
	/* the library takes the same specs, with the same answers */
	const lrd_codec *c;
	int level;
	cr_expect_eq(lrd_codec_parse("gzip:0", LRD_CODEC_STREAM, &c, &level), LRD_OK);
	cr_expect_eq(level, LRD_CODEC_LEVEL_ZERO);
	cr_expect_eq(lrd_codec_parse("gzip", 0, &c, &level), LRD_OK);
	cr_expect_eq(level, 0);
	cr_expect_eq(lrd_codec_parse("blosc", LRD_CODEC_STREAM, &c, &level), LRD_ECODEC);
	cr_expect_eq(lrd_codec_parse("nosuch", 0, &c, &level), LRD_ECODEC);
	cr_expect_eq(lrd_codec_parse("lz4:13", 0, &c, &level), LRD_EINVAL);
	lrd_value *a = floats(1000);
	char *p = tc_path(dir, "lib.lrd");
	cr_expect_eq(lrd_dump(a, p, &(lrd_dump_options){.codec = "gzip", .level = 10}), LRD_EINVAL);
	cr_expect_eq(lrd_dump(a, p, &(lrd_dump_options){.chunk_codec = "blosc:-1"}), LRD_EINVAL);
	cr_expect_eq(lrd_dump(a, p, &(lrd_dump_options){.chunk_codec = "lz4:-65536"}), LRD_OK);
	lrd_store *s;
	char *sp = tc_path(dir, "S");
	cr_assert_eq(lrd_store_open(sp, NULL, &s), LRD_OK);
	cr_expect_eq(lrd_store_put(s, NULL, "b", a, &(lrd_put_options){.codec = "blosc:5"}), LRD_OK,
	             "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_put(s, NULL, "b", a,
	                           &(lrd_put_options){.codec = "blosc", .params = {.level = 42}}),
	             LRD_EINVAL);
	lrd_store_close(s);
	cr_expect_eq(lrd_store_open(sp, &(lrd_store_options){.codec = "lz4:99"}, &s), LRD_EINVAL);
	lrd_value_free(a);
	free(p);
	free(sp);
	teardown();
}

/* ---- item 12: a second writer says it waits, and --wait bounds the wait --------------------- */

/* A child process holding the write lock of dir/S for `secs` seconds (then aborting its
 * transaction and exiting); returns once the lock is held. */
static pid_t hold_write_lock(unsigned secs)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		char *sp = tc_path(dir, "S");
		lrd_store *s;
		lrd_txn *t;
		if (lrd_store_open(sp, NULL, &s) || lrd_txn_begin(s, LRD_TXN_WRITE, &t))
			_exit(1);
		if (write(fds[1], "h", 1) != 1)
			_exit(1);
		sleep(secs);
		lrd_txn_abort(t);
		lrd_store_close(s);
		_exit(0);
	}
	close(fds[1]);
	char c;
	cr_assert_eq(read(fds[0], &c, 1), 1, "the holder could not take the write lock");
	close(fds[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
}

Test(hostile, a_second_writer_says_it_waits_and_wait_bounds_it)
{
	setup();
	static const char *cmds[] = {"put --wait 1 S k2 a.lrd", "put --wait 1 S n in.npy",
	                             "rm --wait 1 S k", "memo clear --wait 1 S"};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		pid_t h = hold_write_lock(60);
		/* timeout 20: a command that ignored --wait would be killed (124), not hang */
		int rc = SH(L " %s >/dev/null 2>err.txt", dir, cmds[i]);
		reap(h);
		cr_expect_eq(rc, 1, "%s: exit %d", cmds[i], rc);
		cr_expect_eq(SH("grep -q \"waiting for the write lock on 'S'\" err.txt && grep -q "
		                "'gave up waiting' err.txt",
		                dir),
		             0, "%s says why", cmds[i]);
	}
	cr_expect_eq(SH(L " get S k o.npy && cmp -s in.npy o.npy", dir), 0,
	             "the store is untouched: k still there");
	/* without --wait: it says it waits, then proceeds when the holder ends */
	pid_t h = hold_write_lock(4);
	int rc = SH(L " put S k3 a.lrd 2>err.txt", dir);
	int st;
	waitpid(h, &st, 0);
	cr_expect_eq(rc, 0);
	cr_expect_eq(SH("grep -q 'waiting for the write lock' err.txt", dir), 0);
	cr_expect_eq(SH(L " ls S | grep -qx k3", dir), 0);
	/* a reader never waits and never says so */
	h = hold_write_lock(60);
	rc = SH(L " ls S >/dev/null 2>err.txt && test ! -s err.txt", dir);
	reap(h);
	cr_expect_eq(rc, 0);
	cr_expect_eq(SH(L " put --wait 0 S k a.lrd 2>/dev/null", dir), 2,
	             "--wait 0 is a usage error");
	teardown();
}

/* ---- item 10: a full disk, a file size limit, odd stores and outputs name the real cause ---- */

/* dir/zeros.npy: 40000 zero bytes (compressible), for the plugin and size-limit cases. */
static void zeros_npy(void)
{
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	uint64_t shape[1] = {5000};
	lrd_value *a = NULL;
	cr_assert_eq(lrd_array_new(dt, 1, shape, LRD_ORDER_C, &a), LRD_OK);
	memset(lrd_array_data(a), 0, 5000 * sizeof(double));
	char *p = tc_path(dir, "zeros.npy");
	cr_assert_eq(lrd_npy_save(a, p, NULL), LRD_OK);
	free(p);
	lrd_value_free(a);
}

Test(hostile, a_full_output_says_no_space_never_failed_earlier)
{
	setup();
	static const char *cmds[] = {
	    "dump in.npy - >/dev/full",
	    "load a.lrd - >/dev/full",
	    "dump in.npy /dev/full",
	    "load a.lrd /dev/full",
	    "get S k /dev/full",
	    "get S t /dev/full",
	    "dump in.npy --codec gzip - >/dev/full",
	};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		cr_expect_eq(SH(L " %s 2>err.txt", dir, cmds[i]), 1, "%s", cmds[i]);
		cr_expect_eq(SH("grep -q 'No space left on device' err.txt && ! grep -q 'failed "
		                "earlier' err.txt",
		                dir),
		             0, "%s: the cause, not 'failed earlier'", cmds[i]);
	}
	teardown();
}

/* RLIMIT_FSIZE (`ulimit -f`, blocks of 512 or 1024 bytes depending on the shell: 16 blocks is
 * at most 16 KiB, under each 40 KB array): every write past it fails with the cause, SIGXFSZ
 * kills nothing (larder ignores it), no temporary file stays and nothing is half-written. */
Test(hostile, a_file_size_limit_fails_each_write_with_its_cause)
{
	setup();
	cr_assert_eq(SH("printf old > keep.lrd", dir), 0);
	static const struct {
		const char *cmd, *why;
	} cases[] = {
	    {"dump in.npy keep.lrd", "File too large"},
	    {"dump in.npy --chunk-codec lz4 new.lrd", "File too large"},
	    {"load a.lrd keep.npy", "File too large"},
	    {"get S k keep.lrd", "File too large"},
	    {"get S k new.npy", "File too large"},
	    {"compact S D", "File too large"},
	    /* S/data.mdb is already larger than the limit: LMDB's write fails with EFBIG */
	    {"put S big in.npy", "file size limit"},
	    /* a new store: the commit's write is cut short at the limit (LMDB says EIO) */
	    {"put N big in.npy", "file size limit"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int rc = SH("ulimit -f 16 && " L " %s >/dev/null 2>err.txt", dir, cases[i].cmd);
		cr_expect_eq(rc, 1, "%s: exit %d (153: killed by SIGXFSZ)", cases[i].cmd, rc);
		cr_expect_eq(SH("grep -q '%s' err.txt", dir, cases[i].why), 0, "%s: says '%s'",
		             cases[i].cmd, cases[i].why);
		cr_expect_eq(SH("test \"$(cat keep.lrd)\" = old && test ! -e new.lrd && test ! -e "
		                "new.npy && test ! -e keep.npy && test ! -e D && "
		                "test -z \"$(ls -A | grep '~$')\"",
		                dir),
		             0, "%s left something behind", cases[i].cmd);
	}
	cr_expect_eq(SH("grep -q 'RLIMIT_FSIZE' err.txt && grep -q \"store 'N'\" err.txt", dir), 0);
	cr_expect_eq(SH(L " verify S >/dev/null && ! " L " ls S | grep -qx big", dir), 0,
	             "nothing of the failed put is in the store");
	/* the library: the same commit is LRD_ELIMIT naming the limit */
	char *sp = tc_path(dir, "S");
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct rlimit lim = {16384, 16384};
		signal(SIGXFSZ, SIG_IGN);
		lrd_store *s;
		if (setrlimit(RLIMIT_FSIZE, &lim) || lrd_store_open(sp, NULL, &s))
			_exit(10);
		lrd_value *v = floats(5000);
		int rc = lrd_store_put(s, NULL, "big", v, NULL);
		_exit(rc == LRD_ELIMIT && strstr(lrd_errmsg(), "file size limit") ? 0 : 11);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "lrd_store_put past RLIMIT_FSIZE");
	free(sp);
	teardown();
}

/* A real full filesystem: a 1 MiB tmpfs, when this process may mount one (root). */
Test(hostile, a_full_disk_is_enospc_for_files_and_stores)
{
	setup();
	if (SH("mkdir small && mount -t tmpfs -o size=1m tmpfs small 2>/dev/null", dir) != 0)
		cr_skip_test("cannot mount a 1 MiB tmpfs here (needs root and mount rights)");
	/* fill it, leaving less than one 40 KB array */
	SH("head -c 1020000 /dev/zero > small/filler 2>/dev/null; printf old > small/keep.lrd",
	   dir);
	static const char *cmds[] = {"dump in.npy small/keep.lrd", "load a.lrd small/o.npy",
	                             "get S k small/keep.lrd", "put small/S k in.npy"};
	int rc[4], msg[4], left[4];
	for (size_t i = 0; i < 4; i++) {
		rc[i] = SH(L " %s >/dev/null 2>err.txt", dir, cmds[i]);
		msg[i] = SH("grep -qi 'no space left on device' err.txt", dir);
		left[i] = SH("test \"$(cat small/keep.lrd)\" = old && test ! -e small/o.npy && "
		             "test -z \"$(ls -A small | grep '~$')\"",
		             dir);
	}
	int st = SH(L " verify small/S >/dev/null 2>&1", dir);
	SH("umount small", dir);
	for (size_t i = 0; i < 4; i++) {
		cr_expect_eq(rc[i], 1, "%s", cmds[i]);
		cr_expect_eq(msg[i], 0, "%s: says no space left", cmds[i]);
		cr_expect_eq(left[i], 0, "%s left something behind", cmds[i]);
	}
	cr_expect(st == 0 || st == 1, "the store the failed put created is sound or absent");
	teardown();
}

Test(hostile, odd_stores_and_outputs_name_the_path_and_the_real_cause)
{
	setup();
	cr_assert_eq(SH("mkdir E OD && : > E/data.mdb", dir), 0);
	static const struct {
		const char *cmd, *why;
	} cases[] = {
	    {"ls E", "'E/data.mdb' is empty (0 bytes): not a store"},
	    {"put E k a.lrd", "'E/data.mdb' is empty (0 bytes): not a store"},
	    {"stat E", "'E/data.mdb' is empty (0 bytes): not a store"},
	    {"ls /dev/null", "'/dev/null' is a character device, not a store directory"},
	    {"put /dev/null k a.lrd", "'/dev/null' is a character device, not a store directory"},
	    {"get S k OD", "'OD': Is a directory"},
	    {"get S k OD/", "'OD/': Is a directory"},
	    {"dump in.npy OD", "'OD': Is a directory"},
	    {"load a.lrd OD", "'OD': Is a directory"},
	    {"compact S a.lrd", "'a.lrd' exists and is not a directory"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cr_expect_eq(SH(L " %s >/dev/null 2>err.txt", dir, cases[i].cmd), 1, "%s",
		             cases[i].cmd);
		cr_expect_eq(SH("grep -qF \"%s\" err.txt && test $(wc -l < err.txt) -eq 1", dir,
		                cases[i].why),
		             0, "%s: one line saying \"%s\"", cases[i].cmd, cases[i].why);
		cr_expect_neq(SH("grep -q 'Bad file descriptor\\|is not writable' err.txt", dir), 0,
		              "%s", cases[i].cmd);
	}
	cr_expect_eq(
	    SH("test ! -s E/data.mdb && test -c /dev/null && test -z \"$(ls -A OD)\"", dir), 0,
	    "nothing was initialised or written");
	teardown();
}

/* ---- item 11: a missing codec plugin is no damage: verify says so and exits 1 --------------- */

Test(hostile, verify_without_the_codec_plugin_cannot_check_and_exits_1)
{
	setup();
	zeros_npy();
	cr_assert_eq(SH("mkdir RP && cp '" TEST_PLUGIN_DIR "/larder-codec-rle.so' RP/", dir), 0);
#define WITH "LARDER_PLUGIN_PATH=$PWD/RP "
	cr_assert_eq(SH(WITH L " dump zeros.npy rle.lrd --chunk-codec rle", dir), 0);
	cr_assert_eq(SH(WITH L " put --codec rle S z zeros.npy", dir), 0);
	/* (info names codecs of ids below 32 only: lrd_node.codec_ids) */
	cr_assert_eq(SH(WITH L " info rle.lrd | grep -q ' 40000 -> [0-9]\\{1,4\\} B'", dir), 0,
	             "the chunks are stored compressed by the plugin's codec");
	cr_expect_eq(SH(WITH L " verify rle.lrd >/dev/null", dir), 0);
	cr_expect_eq(SH(WITH L " verify S >/dev/null", dir), 0);
	static const char *cmds[] = {"verify rle.lrd", "verify - < rle.lrd", "verify S",
	                             "verify --json S"};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		cr_expect_eq(SH(L " %s >out.txt 2>err.txt", dir, cmds[i]), 1, "%s: not exit 3",
		             cmds[i]);
		cr_expect_eq(
		    SH("grep -q 'cannot check' err.txt && grep -q 'unknown codec id 204 "
		       "(plugin not loaded?)' err.txt && ! grep -q DAMAGED out.txt err.txt",
		       dir),
		    0, "%s: says the codec is missing, not damage", cmds[i]);
	}
	cr_expect_eq(SH(L " verify S 2>/dev/null | grep -q '^CANNOT CHECK z: '", dir), 0);
	cr_expect_eq(
	    SH(L " verify --json S 2>/dev/null | grep -q '\"error\": \"LRD_ECODEC\"'", dir), 0);
	/* real damage still outranks it: exit 3 */
	cr_assert_eq(SH("printf '\\125' | dd of=rle.lrd bs=1 seek=$(($(wc -c < rle.lrd) - 40)) "
	                "conv=notrunc 2>/dev/null",
	                dir),
	             0);
	cr_expect_eq(SH(WITH L " verify rle.lrd >/dev/null 2>&1", dir), 3);
#undef WITH
	teardown();
}

/* ---- item 13: every command checks its output stream, --help and --version included -------- */

Test(hostile, help_version_and_stdout_writers_fail_on_a_full_stdout)
{
	setup();
	static const char *cmds[] = {
	    "--version",    "--help",        "ls --help",    "get --help",    "memo --help",
	    "memo stats S", "dump in.npy -", "load a.lrd -", "stat --json S", "ls -l S"};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		cr_expect_eq(SH(L " %s >/dev/full 2>err.txt", dir, cmds[i]), 1, "%s", cmds[i]);
		cr_expect_eq(SH("grep -q 'standard output' err.txt", dir), 0, "%s says why",
		             cmds[i]);
	}
	/* load's OUT '-' is standard output, as dump's is (it used to create a file named '-') */
	cr_expect_eq(SH(L " load a.lrd - | cmp -s - in.npy && test ! -e ./-", dir), 0);
	teardown();
}

/* ---- item 16: info's totals count every array of a tree ------------------------------------ */

Test(hostile, info_totals_count_the_arrays_of_a_tree)
{
	setup();
	lrd_value *root, *list;
	cr_assert_eq(lrd_value_new_map(&root), LRD_OK);
	cr_assert_eq(lrd_value_new_list(&list), LRD_OK);
	cr_assert_eq(lrd_list_append(list, floats(1000)), LRD_OK);
	cr_assert_eq(lrd_map_set(root, "x", floats(3000)), LRD_OK);
	cr_assert_eq(lrd_map_set(root, "l", list), LRD_OK);
	char *p = tc_path(dir, "tree.lrd");
	cr_assert_eq(lrd_dump(root, p, NULL), LRD_OK);
	free(p);
	lrd_value_free(root);
	cr_expect_eq(
	    SH(L " info tree.lrd | grep -q '^arrays:  32000 bytes raw, 32000 stored'", dir), 0);
	cr_expect_eq(SH(L " info --json tree.lrd | grep -q '\"raw_bytes\": 32000, "
	                  "\"stored_bytes\": 32000'",
	                dir),
	             0);
	cr_expect_eq(SH("cat tree.lrd | " L " info - | grep -q '^arrays:  32000 bytes raw'", dir),
	             0);
	teardown();
}

/* ---- item 17: small ones --------------------------------------------------------------------- */

Test(hostile, messages_are_not_garbled)
{
	setup();
	cr_assert_eq(SH("cp a.lrd bad.lrd && printf '\\125' | dd of=bad.lrd bs=1 seek=1000 "
	                "conv=notrunc 2>/dev/null && mkdir OD",
	                dir),
	             0);
	static const struct {
		const char *cmd, *want;
	} cases[] = {
	    {"ls ''", "larder: '' (an empty path): lrd_store_open: the store path is empty"},
	    {"put '' k a.lrd", "'' (an empty path)"},
	    {"info ''", "'' (an empty path)"},
	    {"load a.lrd ''", "'' (an empty path)"},
	    {"load bad.lrd o.npy", "chunk 0 of the array at offset 41: checksum mismatch"},
	    {"verify bad.lrd", "chunk 0 of the array at offset 41: checksum mismatch"},
	    {"info bad.lrd", "chunk 0 of the array at offset 41: checksum mismatch"},
	    {"put S b bad.lrd", "chunk 0 of the root array: checksum mismatch"},
	    {"dump in.npy OD", "larder: 'OD': Is a directory"},
	    {"compact S a.lrd", "larder: compact: 'a.lrd' exists"},
	    {"demo --store ''", "unexpected argument"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cr_expect_neq(SH(L " %s >/dev/null 2>err.txt", dir, cases[i].cmd), 0, "%s",
		              cases[i].cmd);
		cr_expect_eq(SH("grep -qF \"%s\" err.txt", dir, cases[i].want), 0,
		             "%s: lacks \"%s\"", cases[i].cmd, cases[i].want);
		cr_expect_neq(SH("grep -q \": :\\|array array\\|of at offset\\|compact: compact\\|"
		                 "\\([^ :']\\{1,\\}\\): '\\1'\" err.txt",
		                 dir),
		              0, "%s: garbled", cases[i].cmd);
	}
	teardown();
}

Test(hostile, a_plugin_whose_version_is_null_is_refused_by_name)
{
	setup();
	cr_assert_eq(SH("mkdir NV && cp '" TEST_PLUGIN_DIR "/larder-codec-nullver.so' NV/", dir),
	             0);
	cr_expect_eq(SH("LARDER_PLUGIN_PATH=$PWD/NV " L " codecs > out.txt", dir), 0);
	cr_expect_eq(SH("grep -q \"larder-codec-nullver.so: LRD_EINVAL: .*codec 'nullver': "
	                "version() returned NULL\" out.txt && ! grep -q '(null)' out.txt && "
	                "! grep -q '^nullver' out.txt",
	                dir),
	             0);
	cr_expect_eq(SH("LARDER_PLUGIN_PATH=$PWD/NV " L " codecs --json | grep -q "
	                "'\"error\": \"LRD_EINVAL\"'",
	                dir),
	             0);
	teardown();
}

Test(hostile, demo_names_the_tour_keys_it_overwrites_before_writing)
{
	setup();
	/* a store holding a user's own tour/floats: the demo says so first thing; it is stopped
	 * once it has (the whole tour takes seconds) */
	cr_assert_eq(SH(L " put S tour/floats a.lrd", dir), 0);
	cr_expect_eq(SH("{ timeout 60 " L " demo --store S >/dev/null 2>err.txt & p=$!; "
	                "for i in $(seq 100); do grep -q overwriting err.txt && break; "
	                "sleep 0.1; done; kill $p; wait $p; } 2>/dev/null; "
	                "grep -qx 'larder demo: overwriting tour/floats in the existing store S' "
	                "err.txt",
	                dir),
	             0);
	teardown();
}

/* Opening a store needs write access to lock.mdb, even to read: the message says so. As root
 * (who may write anything) the commands run as the user nobody (setpriv); skipped if neither
 * is possible. */
Test(hostile, a_read_only_user_is_told_about_the_lock_file)
{
	setup();
	const char *as = "";
	if (getuid() == 0) {
		if (!tc_have("setpriv"))
			cr_skip_test(
			    "root without setpriv: cannot run as a user without write access");
		as = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
		cr_assert_eq(SH("chmod 755 . && chmod -R go+rX S", dir), 0);
	} else {
		cr_assert_eq(SH("chmod -R a-w S", dir), 0);
	}
	static const char *cmds[] = {"ls S", "stat S", "verify S", "get S k /dev/null",
	                             "put S k2 a.lrd"};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		cr_expect_eq(SH("%s" L " %s >/dev/null 2>err.txt", dir, as, cmds[i]), 1, "%s",
		             cmds[i]);
		cr_expect_eq(
		    SH("grep -q \"'S': permission denied: opening a store, even to read it, "
		       "needs write access to its lock file (lock.mdb)\" err.txt",
		       dir),
		    0, "%s", cmds[i]);
	}
	SH("chmod -R u+w S", dir);
	teardown();
}
