/* Codec plugins: loading shared objects that export LRD_CODEC_PLUGIN_SYMBOL, and the automatic
 * scan of the plugin search path.
 *
 * A plugin is accepted all or nothing: it is dlopen()ed (RTLD_NOW | RTLD_LOCAL), its entry
 * symbol called, the ABI version checked, and then every codec it offers validated and checked
 * for clashes before any is registered (lrd__codec_add_all); on refusal the handle is closed.
 * An accepted plugin is never closed: its vtables must stay valid for the life of the process.
 * A file is loaded at most once, judged by its realpath().
 *
 * Search path, in order (lrd__plugins_scan): each directory of $LARDER_PLUGIN_PATH
 * (colon-separated), the build tree's plugin directory only when the running executable
 * (/proc/self/exe, resolved) lies under the build directory, then the installed plugin
 * directory. In each directory the files `larder-codec-*.so` are loaded in name order; a file
 * name already loaded from an earlier directory is shadowed (like $PATH), so a user's copy wins
 * over the installed one. Refusals during the scan are recorded for lrd_codec_plugin_failure().
 *
 * Synchronisation: the scan runs once, inside the registry's pthread_once; every load, and the
 * lists of loaded files and failures, are guarded by one mutex. Entries are only appended and
 * their strings never freed, so pointers handed out stay valid until exit. */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codecs/codec_internal.h"

#define PLUGIN_PREFIX     "larder-codec-"
#define PLUGIN_SUFFIX     ".so"
#define MAX_PLUGIN_CODECS 64

struct failure {
	char *path;
	int code;
	char *msg;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char **loaded; /* realpaths of accepted plugins */
static size_t nloaded;
static struct failure *failures;
static size_t nfailures;

/* Resize a growable array to n elements of size sz; false when out of memory. */
static bool reserve(void *arrp, size_t n, size_t sz)
{
	void **arr = arrp;
	size_t bytes;
	void *grown = lrd__mul_ok(n, sz, &bytes) ? lrd__realloc(*arr, bytes) : NULL;
	if (grown)
		*arr = grown;
	return grown != NULL;
}

/* Append the sz bytes at p to the array; false when out of memory. */
static bool append(void *arrp, size_t *n, size_t sz, const void *p)
{
	if (!reserve(arrp, *n + 1, sz))
		return false;
	memcpy(*(char **)arrp + *n * sz, p, sz);
	(*n)++;
	return true;
}

static bool is_loaded(const char *real)
{
	for (size_t i = 0; i < nloaded; i++)
		if (strcmp(loaded[i], real) == 0)
			return true;
	return false;
}

/* Validate and register what the plugin offers. Called with mu held. */
static int accept_plugin(void *h, const char *path, const char *real, size_t *count)
{
	lrd_codec_plugin_fn entry;
	/* POSIX dlsym returns void *; the conversion to a function pointer goes through memcpy */
	void *sym = dlsym(h, LRD_CODEC_PLUGIN_SYMBOL);
	if (!sym)
		return lrd__err(LRD_EPLUGIN, "plugin '%s': no entry symbol '%s'", path,
		                LRD_CODEC_PLUGIN_SYMBOL);
	memcpy(&entry, &sym, sizeof entry);
	const lrd_codec_plugin *pl = entry();
	if (!pl)
		return lrd__err(LRD_EPLUGIN, "plugin '%s': entry symbol returned NULL", path);
	if (pl->abi != LRD_CODEC_ABI_VERSION)
		return lrd__err(LRD_EVERSION,
		                "plugin '%s': built for codec ABI %u, this larder has %u", path,
		                pl->abi, LRD_CODEC_ABI_VERSION);
	if (pl->count == 0 || pl->count > MAX_PLUGIN_CODECS || !pl->codecs)
		return lrd__err(LRD_EINVAL, "plugin '%s': offers %zu codecs (1 to %d allowed)",
		                path, pl->count, MAX_PLUGIN_CODECS);
	char *origin = lrd__strdup(real);
	if (!origin || !reserve(&loaded, nloaded + 1, sizeof *loaded)) {
		lrd__free(origin);
		return lrd__err(LRD_ENOMEM, "plugin '%s': out of memory", path);
	}
	int rc = lrd__codec_add_all(pl->codecs, pl->count, origin);
	if (rc) {
		lrd__free(origin);
		return lrd__errctx(rc, "plugin '%s'", path);
	}
	loaded[nloaded++] = origin;
	if (count)
		*count = pl->count;
	return LRD_OK;
}

/* Plugins resolve lrd_error_set and friends against the global symbol scope. A host that
 * dlopen()ed liblarder with RTLD_LOCAL (Python's ctypes does by default) keeps them out of it,
 * so liblarder promotes itself to RTLD_GLOBAL (RTLD_NOLOAD: it is loaded already) first. */
static void export_larder_symbols(void)
{
	static bool done;
	Dl_info info;
	if (done)
		return;
	done = true;
	if (dladdr((void *)lrd_error_set, &info) && info.dli_fname) {
		void *self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
		if (self)
			dlclose(self); /* drops only the reference NOLOAD took; the scope change
			                  stays */
	}
}

/* Load one file; called with mu held. */
static int load_locked(const char *path, size_t *count)
{
	char real[PATH_MAX];
	if (count)
		*count = 0;
	if (!realpath(path, real))
		return lrd__err(LRD_EPLUGIN, "plugin '%s': no such file", path);
	if (is_loaded(real))
		return LRD_OK;
	struct stat st; /* dlopen of a FIFO blocks forever, of a device reads it: files only */
	if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
		return lrd__err(LRD_EPLUGIN, "plugin '%s': not a regular file", path);
	export_larder_symbols();
	void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		return lrd__err(LRD_EPLUGIN, "plugin '%s': %s", path, why ? why : "dlopen failed");
	}
	int rc = accept_plugin(h, path, real, count);
	if (rc)
		dlclose(h);
	return rc;
}

int lrd_codec_load_plugin(const char *path, size_t *count)
{
	if (count)
		*count = 0;
	if (!path)
		return lrd__err(LRD_EINVAL, "lrd_codec_load_plugin: path is NULL");
	(void)lrd_codec_count(); /* run the scan first, so it never races an explicit load */
	pthread_mutex_lock(&mu);
	int rc = load_locked(path, count);
	pthread_mutex_unlock(&mu);
	return rc;
}

static void record_failure(const char *path, int code)
{
	struct failure f = {lrd__strdup(path), code, lrd__strdup(lrd_errmsg())};
	if (!f.path || !f.msg || !append(&failures, &nfailures, sizeof f, &f)) {
		lrd__free(f.path);
		lrd__free(f.msg);
	}
}

static bool plugin_name(const char *name)
{
	size_t n = strlen(name), np = strlen(PLUGIN_PREFIX), ns = strlen(PLUGIN_SUFFIX);
	return n > np + ns && strncmp(name, PLUGIN_PREFIX, np) == 0 &&
	       strcmp(name + n - ns, PLUGIN_SUFFIX) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Has a plugin of this file name already been accepted from an earlier directory? */
static bool shadowed(const char *name)
{
	for (size_t i = 0; i < nloaded; i++) {
		const char *slash = strrchr(loaded[i], '/');
		if (strcmp(slash ? slash + 1 : loaded[i], name) == 0)
			return true;
	}
	return false;
}

static void scan_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return; /* a missing directory on the path is normal */
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *copy;
		if (plugin_name(e->d_name) && (copy = lrd__strdup(e->d_name)) &&
		    !append(&names, &n, sizeof copy, &copy))
			lrd__free(copy);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (len > 0 && (size_t)len < sizeof path && !shadowed(names[i])) {
			int rc = load_locked(path, NULL);
			if (rc)
				record_failure(path, rc);
		}
		lrd__free(names[i]);
	}
	lrd__free(names);
}

/* Does the running executable live under the build directory? */
static bool running_in_build_tree(void)
{
	char exe[PATH_MAX], build[PATH_MAX];
	if (!realpath("/proc/self/exe", exe) || !realpath(LRD_BUILD_DIR, build))
		return false;
	size_t n = strlen(build);
	return strncmp(exe, build, n) == 0 && exe[n] == '/';
}

void lrd__plugins_scan(void)
{
	pthread_mutex_lock(&mu);
	/* secure_getenv: a set-user-ID program must not load code named by its caller's environment
	 */
	const char *env = secure_getenv("LARDER_PLUGIN_PATH");
	char *paths = env ? lrd__strdup(env) : NULL;
	for (char *save = NULL, *dir = paths ? strtok_r(paths, ":", &save) : NULL; dir;
	     dir = strtok_r(NULL, ":", &save))
		scan_dir(dir);
	lrd__free(paths);
	if (running_in_build_tree())
		scan_dir(LRD_BUILD_PLUGIN_DIR);
	scan_dir(LRD_PLUGIN_DIR);
	pthread_mutex_unlock(&mu);
	lrd__errclear();
}

int lrd_codec_plugin_failure(size_t i, const char **path, int *code, const char **msg)
{
	(void)lrd_codec_count();
	pthread_mutex_lock(&mu);
	bool found = i < nfailures;
	if (found) {
		if (path)
			*path = failures[i].path;
		if (code)
			*code = failures[i].code;
		if (msg)
			*msg = failures[i].msg;
	}
	pthread_mutex_unlock(&mu);
	return found ? LRD_OK : LRD_ENOTFOUND;
}
