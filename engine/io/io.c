/* lrd_stream: one buffered byte stream over a path, a descriptor, a FILE*, memory or user
 * callbacks (io.h, io_internal.h).
 *
 * Each kind supplies four raw operations (read some, write all, seek, size); everything else —
 * buffering, peeking, exact reads, position tracking, mapping — is written once on top. The
 * buffer holds either unread input [bpos, blen) or unwritten output [0, blen), never both, since
 * a stream has one direction. Positions are relative to where the stream started (a FILE* or
 * descriptor may already be part-way through a file). A write failure is sticky. One thread at a
 * time; no shared state. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/io/io_internal.h"

enum kind { K_PATH, K_FD, K_FILE, K_MEM, K_MEMBUF, K_CB };

struct lrd_stream {
	enum kind kind;
	bool writing;
	bool seekable;
	int failed;        /* sticky write error */
	char failmsg[256]; /* ... and its message, repeated by every later write (never "failed
	                      earlier" without the cause) */
	int fd;            /* K_PATH (owned), K_FD */
	FILE *f;
	const uint8_t *mem; /* K_MEM */
	size_t memsize, memoff;
	lrd__membuf mb; /* K_MEMBUF */
	lrd_io_callbacks cb;
	uint64_t start; /* offset of the underlying file where the stream began */
	int64_t size;   /* bytes from start to the end of input, -1 unknown */
	uint64_t rpos;  /* raw bytes consumed (reading) from start */
	uint8_t *buf;
	size_t bpos, blen;
	char *tmp;    /* K_PATH writing to a regular file: the temporary file being written */
	char *target; /* ... and the path it is renamed to when the stream closes cleanly */
	char name[64];
};

static int io_err(const lrd_stream *s, const char *op)
{
	int e = errno;
	return lrd__err(e == ENOSPC ? LRD_ENOSPC : LRD_EIO, "%s %s: %s", op, s->name, strerror(e));
}

/* ---- raw operations -------------------------------------------------------------------------- */

static int raw_read(lrd_stream *s, void *p, size_t n, size_t *got)
{
	*got = 0;
	switch (s->kind) {
	case K_PATH:
	case K_FD:
		for (;;) {
			ssize_t r = read(s->fd, p, n);
			if (r >= 0) {
				*got = (size_t)r;
				return LRD_OK;
			}
			if (errno != EINTR)
				return io_err(s, "reading");
		}
	case K_FILE:
		*got = fread(p, 1, n, s->f);
		if (*got == 0 && ferror(s->f))
			return io_err(s, "reading");
		return LRD_OK;
	case K_MEM:
		*got = n < s->memsize - s->memoff ? n : s->memsize - s->memoff;
		memcpy(p, s->mem + s->memoff, *got);
		s->memoff += *got;
		return LRD_OK;
	case K_CB: {
		ptrdiff_t r = s->cb.read(s->cb.ctx, p, n);
		if (r < 0)
			return lrd__errctx((int)r, "reading %s", s->name);
		if ((size_t)r > n)
			return lrd__err(LRD_EIO, "read callback returned %td bytes for %zu", r, n);
		*got = (size_t)r;
		return LRD_OK;
	}
	case K_MEMBUF:
		break;
	}
	return lrd__err(LRD_EINVAL, "%s is not readable", s->name);
}

static int raw_write(lrd_stream *s, const void *p, size_t n)
{
	const uint8_t *b = p;
	switch (s->kind) {
	case K_PATH:
	case K_FD:
		while (n) {
			ssize_t r = write(s->fd, b, n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return io_err(s, "writing");
			b += r;
			n -= (size_t)r;
		}
		return LRD_OK;
	case K_FILE:
		if (fwrite(p, 1, n, s->f) != n)
			return io_err(s, "writing");
		return LRD_OK;
	case K_MEMBUF:
		return lrd__membuf_append(&s->mb, p, n);
	case K_CB: {
		int rc = s->cb.write(s->cb.ctx, p, n);
		return rc ? lrd__errctx(rc, "writing %s", s->name) : LRD_OK;
	}
	case K_MEM:
		break;
	}
	return lrd__err(LRD_EINVAL, "%s is not writable", s->name);
}

static int raw_seek(lrd_stream *s, uint64_t off)
{
	if (!s->seekable)
		return lrd__err(LRD_EUNSUPPORTED, "%s cannot seek (a pipe or socket?)", s->name);
	switch (s->kind) {
	case K_PATH:
	case K_FD:
		if (lseek(s->fd, (off_t)(s->start + off), SEEK_SET) < 0)
			return io_err(s, "seeking");
		return LRD_OK;
	case K_FILE:
		if (fseeko(s->f, (off_t)(s->start + off), SEEK_SET) != 0)
			return io_err(s, "seeking");
		return LRD_OK;
	case K_MEM:
		s->memoff = off < s->memsize ? (size_t)off : s->memsize;
		return LRD_OK;
	case K_CB: {
		int rc = s->cb.seek(s->cb.ctx, off);
		return rc ? lrd__errctx(rc, "seeking %s", s->name) : LRD_OK;
	}
	case K_MEMBUF:
		break;
	}
	return lrd__err(LRD_EUNSUPPORTED, "%s cannot seek", s->name);
}

/* Learn the start offset, seekability and size of a descriptor. */
static void probe_fd(lrd_stream *s, int fd)
{
	struct stat st;
	off_t cur = lseek(fd, 0, SEEK_CUR);
	s->size = -1;
	if (cur < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	s->seekable = true;
	s->start = (uint64_t)cur;
	if (!s->writing)
		s->size = st.st_size > cur ? (int64_t)(st.st_size - cur) : 0;
}

/* ---- opening --------------------------------------------------------------------------------- */

static int parse_mode(const char *mode, bool *writing)
{
	if (mode && strcmp(mode, "r") == 0)
		*writing = false;
	else if (mode && strcmp(mode, "w") == 0)
		*writing = true;
	else
		return lrd__err(LRD_EINVAL, "stream mode must be \"r\" or \"w\", not \"%s\"",
		                mode ? mode : "(null)");
	return LRD_OK;
}

/* Free what the stream allocated; closes nothing and flushes nothing. */
static void stream_free(lrd_stream *s)
{
	lrd__free(s->tmp);
	lrd__free(s->target);
	lrd__membuf_free(&s->mb);
	lrd__free(s->buf);
	lrd__free(s);
}

static int new_stream(enum kind k, bool writing, lrd_stream **out)
{
	*out = NULL;
	lrd_stream *s = lrd__calloc(1, sizeof *s);
	if (!s)
		return LRD_ENOMEM;
	s->buf = lrd__malloc(LRD__IO_BUFSIZE);
	if (!s->buf) {
		lrd__free(s);
		return LRD_ENOMEM;
	}
	s->kind = k;
	s->writing = writing;
	s->fd = -1;
	s->size = -1;
	*out = s;
	return LRD_OK;
}

/* ---- opening an output by path --------------------------------------------------------------
 * A regular file (or a name that does not exist yet) is written to a new temporary file beside
 * it, created O_EXCL with the old file's permissions, and renamed over it by lrd_stream_close
 * only when every byte was written; a failure or lrd_stream_abort removes the temporary file
 * and leaves the old one as it was. A symlink is followed: its target is replaced, the link
 * kept. Anything else that can be written (a character device, a FIFO, a terminal,
 * /dev/stdout and other /dev/ and /proc/ names) is opened and written directly and never
 * removed. A directory is refused, and so is a file an open store maps or locks. */

static bool is_special_name(const char *p)
{
	return strncmp(p, "/dev/", 5) == 0 || strncmp(p, "/proc/", 6) == 0;
}

static int open_output(lrd_stream *s, const char *path)
{
	struct stat st;
	char *real = NULL;
	bool exists = stat(path, &st) == 0;
	if (!exists && errno != ENOENT)
		return io_err(s, "opening");
	if (exists && S_ISDIR(st.st_mode))
		return lrd__err(LRD_EIO, "%s: %s (a file was expected)", s->name, strerror(EISDIR));
	if (exists && lrd__guarded(st.st_dev, st.st_ino))
		return lrd__err(LRD_EINVAL,
		                "%s is a file of a store that is open: refusing to overwrite it",
		                s->name);
	if ((exists && !S_ISREG(st.st_mode)) || is_special_name(path) ||
	    (exists && (real = realpath(path, NULL)) && is_special_name(real))) {
		free(real);
		s->fd = open(path,
		             O_WRONLY | O_CLOEXEC | (exists && S_ISREG(st.st_mode) ? O_TRUNC : 0));
		return s->fd < 0 ? io_err(s, "opening") : LRD_OK;
	}
	const char *dest = real ? real : path; /* a symlink's target is what gets replaced */
	const char *slash = strrchr(dest, '/');
	size_t dlen = slash ? (size_t)(slash - dest) + 1 : 0, n = strlen(dest);
	s->target = lrd__malloc(n + 1);
	s->tmp = lrd__malloc(n + 16);
	if (!s->target || !s->tmp) {
		free(real);
		return LRD_ENOMEM;
	}
	memcpy(s->target, dest, n + 1);
	free(real);
	mode_t mode = exists ? (st.st_mode & 07777) : 0666;
	static _Atomic unsigned counter;
	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned salt = (unsigned)getpid() * 2654435761u + ++counter * 40503u +
		                (unsigned)attempt * 7919u;
		snprintf(s->tmp, n + 16, "%.*s.%s.%06x~", (int)dlen, s->target, s->target + dlen,
		         salt & 0xFFFFFF);
		s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (s->fd >= 0 || errno != EEXIST)
			break;
	}
	if (s->fd < 0) {
		int e = errno;
		lrd__free(s->tmp);
		s->tmp = NULL;
		errno = e;
		return lrd__err(e == ENOSPC ? LRD_ENOSPC : LRD_EIO,
		                "%s: cannot create a temporary file beside it: %s", s->name,
		                strerror(e));
	}
	if (exists)
		(void)fchmod(s->fd, mode); /* the umask must not narrow an existing file's mode */
	return LRD_OK;
}

/* Open a file for reading: a FIFO without a writer must not block the open (it then reads as
 * empty), and a directory is named as such. */
static int open_input(lrd_stream *s, const char *path)
{
	s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (s->fd < 0)
		return errno == ENOENT ? lrd__err(LRD_ENOTFOUND, "%s: no such file", s->name)
		                       : io_err(s, "opening");
	struct stat st;
	if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode))
		return lrd__err(LRD_EIO, "%s: %s (a file was expected)", s->name, strerror(EISDIR));
	int fl = fcntl(s->fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK);
	return LRD_OK;
}

int lrd_stream_open_path(const char *path, const char *mode, lrd_stream **out)
{
	bool w;
	int rc;
	if (!out || !path || !*path)
		return lrd__err(LRD_EINVAL, "lrd_stream_open_path: %s path",
		                path ? "empty" : "NULL");
	if ((rc = parse_mode(mode, &w)) || (rc = new_stream(K_PATH, w, out)))
		return rc;
	lrd_stream *s = *out;
	snprintf(s->name, sizeof s->name, "'%s'", path);
	rc = w ? open_output(s, path) : open_input(s, path);
	if (rc) {
		lrd_stream_abort(s);
		*out = NULL;
		return rc;
	}
	probe_fd(s, s->fd);
	return LRD_OK;
}

int lrd_stream_open_fd(int fd, const char *mode, lrd_stream **out)
{
	bool w;
	int rc;
	if (!out || fd < 0)
		return lrd__err(LRD_EINVAL, "lrd_stream_open_fd: bad argument");
	if ((rc = parse_mode(mode, &w)) || (rc = new_stream(K_FD, w, out)))
		return rc;
	(*out)->fd = fd;
	static const char *const std[] = {"standard input", "standard output", "standard error"};
	if (fd <= 2)
		snprintf((*out)->name, sizeof(*out)->name, "%s (fd %d)", std[fd], fd);
	else
		snprintf((*out)->name, sizeof(*out)->name, "fd %d", fd);
	probe_fd(*out, fd);
	return LRD_OK;
}

int lrd_stream_open_file(FILE *f, const char *mode, lrd_stream **out)
{
	bool w;
	int rc;
	if (!out || !f)
		return lrd__err(LRD_EINVAL, "lrd_stream_open_file: NULL argument");
	if ((rc = parse_mode(mode, &w)) || (rc = new_stream(K_FILE, w, out)))
		return rc;
	lrd_stream *s = *out;
	s->f = f;
	snprintf(s->name, sizeof s->name, "FILE*");
	int fd = fileno(f);
	off_t cur = ftello(f);
	if (fd >= 0 && cur >= 0) {
		probe_fd(s, fd);
		s->start = (uint64_t)cur;
		if (s->size >= 0) {
			struct stat st;
			fstat(fd, &st);
			s->size = st.st_size > cur ? (int64_t)(st.st_size - cur) : 0;
		}
	}
	return LRD_OK;
}

int lrd_stream_open_memory(const void *data, size_t size, lrd_stream **out)
{
	int rc;
	if (!out || (!data && size))
		return lrd__err(LRD_EINVAL, "lrd_stream_open_memory: NULL argument");
	if ((rc = new_stream(K_MEM, false, out)))
		return rc;
	(*out)->mem = data;
	(*out)->memsize = size;
	(*out)->size = (int64_t)size;
	(*out)->seekable = true;
	snprintf((*out)->name, sizeof(*out)->name, "memory");
	return LRD_OK;
}

int lrd_stream_open_membuf(lrd_stream **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_stream_open_membuf: NULL argument");
	int rc = new_stream(K_MEMBUF, true, out);
	if (!rc)
		snprintf((*out)->name, sizeof(*out)->name, "memory buffer");
	return rc;
}

int lrd_stream_open_callbacks(const lrd_io_callbacks *cb, const char *mode, lrd_stream **out)
{
	bool w;
	int rc;
	if (!out || !cb)
		return lrd__err(LRD_EINVAL, "lrd_stream_open_callbacks: NULL argument");
	if ((rc = parse_mode(mode, &w)))
		return rc;
	if (w ? !cb->write : !cb->read)
		return lrd__err(LRD_EINVAL, "callbacks lack a %s function", w ? "write" : "read");
	if ((rc = new_stream(K_CB, w, out)))
		return rc;
	lrd_stream *s = *out;
	s->cb = *cb;
	s->seekable = cb->seek != NULL;
	snprintf(s->name, sizeof s->name, "callbacks");
	if (!w && cb->size) {
		int64_t n = cb->size(cb->ctx);
		s->size = n >= 0 ? n : -1;
	}
	return LRD_OK;
}

/* ---- buffered access ------------------------------------------------------------------------- */

int lrd__stream_read_some(lrd_stream *s, void *p, size_t n, size_t *got)
{
	*got = 0;
	if (s->bpos < s->blen) {
		size_t k = s->blen - s->bpos < n ? s->blen - s->bpos : n;
		memcpy(p, s->buf + s->bpos, k);
		s->bpos += k;
		*got = k;
		return LRD_OK;
	}
	if (n >= LRD__IO_BUFSIZE) {
		int rc = raw_read(s, p, n, got);
		s->rpos += *got;
		return rc;
	}
	size_t filled;
	int rc = raw_read(s, s->buf, LRD__IO_BUFSIZE, &filled);
	if (rc)
		return rc;
	s->rpos += filled;
	s->bpos = 0;
	s->blen = filled;
	return filled ? lrd__stream_read_some(s, p, n, got) : LRD_OK;
}

int lrd__stream_peek(lrd_stream *s, size_t n, const uint8_t **p, size_t *got)
{
	if (n > LRD__IO_BUFSIZE)
		n = LRD__IO_BUFSIZE;
	if (s->bpos > 0) {
		memmove(s->buf, s->buf + s->bpos, s->blen - s->bpos);
		s->blen -= s->bpos;
		s->bpos = 0;
	}
	while (s->blen < n) {
		size_t k;
		int rc = raw_read(s, s->buf + s->blen, LRD__IO_BUFSIZE - s->blen, &k);
		if (rc)
			return rc;
		if (k == 0)
			break;
		s->rpos += k;
		s->blen += k;
	}
	*p = s->buf;
	*got = s->blen < n ? s->blen : n;
	return LRD_OK;
}

int lrd__stream_seek(lrd_stream *s, uint64_t off)
{
	int rc = raw_seek(s, off);
	if (rc == LRD_OK) {
		s->rpos = off;
		s->bpos = s->blen = 0;
	}
	return rc;
}

uint64_t lrd__stream_tell(const lrd_stream *s) { return s->rpos - (s->blen - s->bpos); }

int64_t lrd__stream_size(const lrd_stream *s) { return s->size; }

bool lrd__stream_seekable(const lrd_stream *s) { return s->seekable; }

const char *lrd__stream_name(const lrd_stream *s) { return s->name; }

/* A write failed with rc: remember it and its message (sticky). */
static void fail(lrd_stream *s, int rc)
{
	s->failed = rc;
	snprintf(s->failmsg, sizeof s->failmsg, "%s", lrd_errmsg());
}

/* Every write after a failure repeats the first one's code and cause. */
static int failed_again(const lrd_stream *s)
{
	return lrd__err(s->failed, "%s", s->failmsg[0] ? s->failmsg : lrd_strerror(s->failed));
}

int lrd__stream_write(lrd_stream *s, const void *p, size_t n)
{
	if (s->failed)
		return failed_again(s);
	if (!s->writing)
		return lrd__err(LRD_EINVAL, "%s is open for reading", s->name);
	int rc = LRD_OK;
	if (s->blen + n > LRD__IO_BUFSIZE) {
		rc = raw_write(s, s->buf, s->blen);
		s->blen = 0;
		if (!rc && n >= LRD__IO_BUFSIZE)
			rc = raw_write(s, p, n), n = 0;
	}
	if (!rc && n) {
		memcpy(s->buf + s->blen, p, n);
		s->blen += n;
	}
	if (rc)
		fail(s, rc);
	return rc;
}

int lrd_stream_flush(lrd_stream *s)
{
	if (!s)
		return lrd__err(LRD_EINVAL, "lrd_stream_flush: NULL stream");
	if (!s->writing)
		return LRD_OK;
	if (s->failed)
		return failed_again(s);
	int rc = raw_write(s, s->buf, s->blen);
	s->blen = 0;
	if (!rc && s->kind == K_FILE && fflush(s->f) != 0)
		rc = io_err(s, "flushing");
	if (rc)
		fail(s, rc);
	return rc;
}

int lrd_stream_take_memory(lrd_stream *s, void **data, size_t *size)
{
	if (!s || !data || !size || s->kind != K_MEMBUF)
		return lrd__err(LRD_EINVAL, "lrd_stream_take_memory: not a memory buffer stream");
	int rc = lrd_stream_flush(s);
	if (rc)
		return rc;
	*data = s->mb.data;
	*size = s->mb.size;
	s->mb = (lrd__membuf){0};
	return LRD_OK;
}

/* Release the stream; commit: rename a temporary output into place (else remove it). */
static int finish(lrd_stream *s, bool commit)
{
	int rc = commit && s->writing ? lrd_stream_flush(s) : LRD_OK;
	if (s->kind == K_PATH && s->fd >= 0 && close(s->fd) != 0 && !rc && commit)
		rc = io_err(s, "closing");
	if (s->tmp) {
		if (commit && !rc && rename(s->tmp, s->target) != 0)
			rc = io_err(s, "renaming into place");
		if (!commit || rc)
			unlink(s->tmp); /* larder's own temporary file, never the target */
	}
	stream_free(s);
	return rc;
}

int lrd_stream_close(lrd_stream *s) { return s ? finish(s, true) : LRD_OK; }

void lrd_stream_abort(lrd_stream *s)
{
	if (s)
		(void)finish(s, false);
}

/* ---- mapping --------------------------------------------------------------------------------- */

int lrd__stream_map(lrd_stream *s, lrd__mapping *m)
{
	*m = (lrd__mapping){0};
	if (s->kind == K_MEM) {
		m->data = s->mem;
		m->size = s->memsize;
		return LRD_OK;
	}
	int fd = s->kind == K_FILE ? fileno(s->f) : s->fd;
	if ((s->kind != K_PATH && s->kind != K_FD && s->kind != K_FILE) || fd < 0 || !s->seekable ||
	    s->size < 0)
		return lrd__err(LRD_EUNSUPPORTED, "%s cannot be memory-mapped (not a regular file)",
		                s->name);
	if ((uint64_t)s->size > SIZE_MAX - s->start)
		return lrd__err(LRD_ELIMIT, "%s is too large to map", s->name);
	m->base_size = (size_t)(s->start + (uint64_t)s->size);
	if (m->base_size == 0)
		return LRD_OK;
	void *p = mmap(NULL, m->base_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		m->base_size = 0;
		return io_err(s, "mapping");
	}
	m->base = p;
	m->data = (const uint8_t *)p + s->start;
	m->size = (size_t)s->size;
	return LRD_OK;
}

void lrd__stream_unmap(lrd__mapping *m)
{
	if (m->base)
		munmap(m->base, m->base_size);
	*m = (lrd__mapping){0};
}

/* ---- channels -------------------------------------------------------------------------------- */

static int chan_read(void *ctx, void *p, size_t n)
{
	lrd_stream *s = ctx;
	uint8_t *b = p;
	while (n) {
		size_t got;
		int rc = lrd__stream_read_some(s, b, n, &got);
		if (rc)
			return rc;
		if (got == 0)
			return lrd__err(LRD_ECORRUPT, "truncated: %s ended %zu bytes early",
			                s->name, n);
		b += got;
		n -= got;
	}
	return LRD_OK;
}

static int chan_skip(void *ctx, uint64_t n)
{
	lrd_stream *s = ctx;
	uint64_t buffered = s->blen - s->bpos;
	if (n <= buffered) {
		s->bpos += (size_t)n;
		return LRD_OK;
	}
	uint64_t target = lrd__stream_tell(s) + n;
	if (s->size >= 0 && target > (uint64_t)s->size)
		return lrd__err(LRD_ECORRUPT, "truncated: %s ends before offset %llu", s->name,
		                (unsigned long long)target);
	return lrd__stream_seek(s, target);
}

lrd__reader lrd__stream_reader(lrd_stream *s)
{
	int64_t size = s->size;
	uint64_t at = lrd__stream_tell(s);
	return (lrd__reader){
	    .read = chan_read,
	    .skip = s->seekable ? chan_skip : NULL,
	    .ctx = s,
	    .pos = 0,
	    .avail =
	        size >= 0 ? (at <= (uint64_t)size ? (uint64_t)size - at : 0) : LRD__AVAIL_UNKNOWN,
	};
}

static int chan_write(void *ctx, const void *p, size_t n) { return lrd__stream_write(ctx, p, n); }

lrd__writer lrd__stream_writer(lrd_stream *s)
{
	return (lrd__writer){.write = chan_write, .ctx = s};
}
