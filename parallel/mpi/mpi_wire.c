/* Framed values over MPI: a frame of larder/message.h travels as ceil(len / LRD_MPI_PIECE)
 * messages; the first piece holds the frame header, which gives the length, so no length is
 * sent separately. An empty first piece is "no value". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parallel/mpi/mpi_internal.h"

double lrd__mpi_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Poll for a message: busy for the first 200 us (a worker's answer to a short batch comes
 * back well within that), then with sleeps growing by 10 us up to 1 ms, so that a rank that
 * waits long leaves its core to the ranks that work. Polls are counted by time, not by number:
 * an MPI_Iprobe costs far more when Open MPI yields on each one (oversubscribed runs). */
int lrd__mpi_wait(int src, int tag, double deadline, MPI_Status *st)
{
	long ns = 0;
	double spin_until = lrd__mpi_now() + 200e-6;
	for (;;) {
		int flag = 0;
		MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, st);
		if (flag)
			return 1;
		double now = lrd__mpi_now();
		if (deadline >= 0 && now >= deadline)
			return 0;
		if (now < spin_until)
			continue;
		ns = ns < 1000000 ? ns + 10000 : 1000000;
		struct timespec ts = {0, ns};
		nanosleep(&ts, NULL);
	}
}

static int send_bytes(int dest, int tag, const void *p, size_t n)
{
	if (MPI_Send(p, (int)n, MPI_BYTE, dest, tag, MPI_COMM_WORLD) != MPI_SUCCESS)
		return lrd_error_set(LRD_EIO, "MPI_Send of %zu bytes to rank %d failed", n, dest);
	return LRD_OK;
}

static int send_frame_pieces(int dest, int tag, const char *p, size_t len)
{
	int rc = LRD_OK;
	for (size_t off = 0; off < len && !rc; off += LRD_MPI_PIECE)
		rc = send_bytes(dest, tag, p + off,
		                len - off < LRD_MPI_PIECE ? len - off : LRD_MPI_PIECE);
	return rc;
}

void lrd__mpi_out_init(lrd__mpi_out *o, int dest, int tag)
{
	memset(o, 0, sizeof *o);
	o->dest = dest;
	o->tag = tag;
}

int lrd__mpi_out_flush(lrd__mpi_out *o)
{
	int rc = o->len ? send_bytes(o->dest, o->tag, o->pack, o->len) : LRD_OK;
	o->len = 0;
	return rc;
}

void lrd__mpi_out_done(lrd__mpi_out *o)
{
	free(o->pack);
	o->pack = NULL;
	o->len = o->cap = 0;
}

int lrd__mpi_out_value(lrd__mpi_out *o, const lrd_value *v)
{
	void *buf = NULL;
	size_t len = 0;
	int rc = v ? lrd_value_encode(v, NULL, &buf, &len) : LRD_OK;
	if (rc || !v) { /* an empty piece: "no value here" */
		if (lrd__mpi_out_flush(o) || send_bytes(o->dest, o->tag, "", 0))
			return LRD_EIO;
		return rc;
	}
	if (len > LRD_MPI_PIECE) { /* alone, in pieces, the first one starting with it */
		rc = lrd__mpi_out_flush(o);
		if (!rc)
			rc = send_frame_pieces(o->dest, o->tag, buf, len);
		lrd_free(buf);
		return rc;
	}
	if (o->len + len > LRD_MPI_PIECE && (rc = lrd__mpi_out_flush(o))) {
		lrd_free(buf);
		return rc;
	}
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 4096;
		while (cap < o->len + len)
			cap *= 2;
		if (cap > LRD_MPI_PIECE)
			cap = LRD_MPI_PIECE;
		char *np = realloc(o->pack, cap);
		if (!np) { /* send it on its own instead */
			lrd_free(buf);
			rc = lrd__mpi_out_flush(o);
			return rc ? rc : lrd__mpi_out_value(o, NULL);
		}
		o->pack = np;
		o->cap = cap;
	}
	memcpy(o->pack + o->len, buf, len);
	o->len += len;
	lrd_free(buf);
	return LRD_OK;
}

static int recv_piece(int src, int tag, void *p, size_t cap, size_t *got)
{
	MPI_Status st;
	int n = 0;
	if (MPI_Recv(p, (int)cap, MPI_BYTE, src, tag, MPI_COMM_WORLD, &st) != MPI_SUCCESS ||
	    MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS)
		return lrd_error_set(LRD_EIO, "MPI_Recv from rank %d failed", src);
	*got = (size_t)n;
	return LRD_OK;
}

void lrd__mpi_in_init(lrd__mpi_in *in, int src, int tag)
{
	memset(in, 0, sizeof *in);
	in->src = src;
	in->tag = tag;
}

void lrd__mpi_in_done(lrd__mpi_in *in)
{
	free(in->piece);
	in->piece = NULL;
	in->cap = in->pos = in->avail = 0;
}

/* The rest of a frame of len bytes whose first `got` bytes are in in->piece. */
static int recv_big(lrd__mpi_in *in, size_t len, lrd_value **out)
{
	size_t got = in->avail;
	in->pos = in->avail;
	char *buf = malloc(len);
	int rc =
	    buf ? LRD_OK : lrd_error_set(LRD_ENOMEM, "out of memory for a %zu-byte message", len);
	if (buf)
		memcpy(buf, in->piece, got);
	for (size_t off = got, n = 0; off < len; off += n) {
		size_t want = len - off < LRD_MPI_PIECE ? len - off : LRD_MPI_PIECE;
		/* without memory, drain the pieces into the piece buffer (they are <= its size) */
		int r = recv_piece(in->src, in->tag, buf ? buf + off : in->piece,
		                   buf ? want : in->cap, &n);
		if (r || n == 0) {
			rc = r ? r
			       : lrd_error_set(LRD_ECORRUPT, "a message from rank %d ends early",
			                       in->src);
			break;
		}
	}
	if (!rc)
		rc = lrd_value_decode(buf, len, NULL, out);
	free(buf);
	return rc;
}

int lrd__mpi_in_value(lrd__mpi_in *in, lrd_value **out)
{
	*out = NULL;
	if (in->pos == in->avail) {
		MPI_Status st;
		int n = 0;
		lrd__mpi_wait(in->src, in->tag, -1, &st);
		MPI_Get_count(&st, MPI_BYTE, &n);
		if (n < 0 || (size_t)n > LRD_MPI_PIECE)
			return lrd_error_set(LRD_ECORRUPT, "a piece of %d bytes from rank %d", n,
			                     in->src);
		if ((size_t)n > in->cap) {
			size_t cap = in->cap ? in->cap : 4096;
			while (cap < (size_t)n)
				cap *= 2;
			char *np = realloc(in->piece, cap);
			if (!np) {
				char c;
				MPI_Recv(&c, 0, MPI_BYTE, in->src, in->tag, MPI_COMM_WORLD,
				         MPI_STATUS_IGNORE);
				return lrd_error_set(LRD_ENOMEM, "out of memory for %d bytes", n);
			}
			in->piece = np;
			in->cap = cap;
		}
		size_t got = 0;
		int rc = recv_piece(in->src, in->tag, in->piece, in->cap, &got);
		if (rc)
			return rc;
		in->pos = 0;
		in->avail = got;
		if (got == 0)
			return LRD_OK; /* no value */
	}
	size_t len = 0, left = in->avail - in->pos;
	int rc = lrd_value_encoded_size(in->piece + in->pos, left, &len);
	if (!rc && len <= left) {
		rc = lrd_value_decode(in->piece + in->pos, len, NULL, out);
		in->pos += len;
		return rc;
	}
	if (!rc && in->pos == 0 && in->avail == LRD_MPI_PIECE)
		return recv_big(in, len, out);
	in->pos = in->avail;
	return rc ? rc
	          : lrd_error_set(LRD_ECORRUPT,
	                          "a frame of %zu bytes from rank %d split "
	                          "across pieces",
	                          len, in->src);
}
