/* The famfs kernel's offset resolution (reference fuse-iomap-abi.md §3.3) in C, as the
 * yardstick for bench/resolve/run.js. Reads a map file and a positions file written by
 * run.js, resolves every position `reps` times, prints "name ns_per_op checksum".
 * Build: gcc -O2 -o resolve resolve.c */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct strip { uint32_t daxdev; uint64_t offset, length; };
struct ext {
	int interleave;
	uint32_t daxdev; uint64_t offset, length;       /* simple */
	uint64_t chunk, nbytes; uint32_t nstrips;        /* interleaved */
	struct strip *strips;
};
struct map { uint64_t size; uint32_t n; struct ext *ext; uint64_t uniform; };
struct mapping { uint32_t daxdev; uint64_t offset, length; };

static inline uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static inline void place(const struct ext *e, uint64_t local, uint64_t ext_size, uint64_t tail, struct mapping *out)
{
	if (!e->interleave) {
		out->daxdev = e->daxdev;
		out->offset = e->offset + local;
		out->length = min64(ext_size - local, tail);
		return;
	}
	uint64_t chunk_num = local / e->chunk;
	uint64_t chunk_offset = local % e->chunk;
	uint64_t stripe_num = chunk_num / e->nstrips;
	const struct strip *s = &e->strips[chunk_num % e->nstrips];
	out->daxdev = s->daxdev;
	out->offset = s->offset + stripe_num * e->chunk + chunk_offset;
	out->length = min64(min64(e->chunk - chunk_offset, ext_size - local), tail);
}

static inline uint64_t ext_size(const struct map *m, const struct ext *e)
{
	return e->interleave ? min64(e->nbytes, m->size) : e->length;
}

/* The walk of famfs_fileofs_to_daxofs / famfs_interleave_fileofs_to_daxofs. */
static inline int resolve_walk(const struct map *m, uint64_t pos, struct mapping *out)
{
	if (pos >= m->size) return 0;
	uint64_t local = pos;
	for (uint32_t i = 0; i < m->n; i++) {
		uint64_t sz = ext_size(m, &m->ext[i]);
		if (local < sz) { place(&m->ext[i], local, sz, m->size - pos, out); return 1; }
		local -= sz;
	}
	return -1;
}

/* The dev tree's uniform-extent O(1) lookup (ext_shift). */
static inline int resolve_uniform(const struct map *m, uint64_t pos, struct mapping *out)
{
	if (pos >= m->size) return 0;
	uint64_t i = pos / m->uniform;
	if (i >= m->n) return -1;
	uint64_t start = i * m->uniform;
	place(&m->ext[i], pos - start, ext_size(m, &m->ext[i]), m->size - pos, out);
	return 1;
}

static void load_map(const char *path, struct map *m)
{
	FILE *f = fopen(path, "r");
	if (!f) { perror(path); exit(2); }
	if (fscanf(f, "%lu %u", &m->size, &m->n) != 2) exit(3);
	m->ext = calloc(m->n, sizeof *m->ext);
	for (uint32_t i = 0; i < m->n; i++) {
		struct ext *e = &m->ext[i];
		char t[4];
		if (fscanf(f, "%3s", t) != 1) exit(3);
		if (t[0] == 's') {
			if (fscanf(f, "%u %lu %lu", &e->daxdev, &e->offset, &e->length) != 3) exit(3);
		} else {
			e->interleave = 1;
			if (fscanf(f, "%lu %lu %u", &e->chunk, &e->nbytes, &e->nstrips) != 3) exit(3);
			e->strips = calloc(e->nstrips, sizeof *e->strips);
			for (uint32_t j = 0; j < e->nstrips; j++)
				if (fscanf(f, "%u %lu %lu", &e->strips[j].daxdev, &e->strips[j].offset, &e->strips[j].length) != 3) exit(3);
		}
	}
	fclose(f);
	m->uniform = m->n ? ext_size(m, &m->ext[0]) : 0;
	for (uint32_t i = 1; i < m->n; i++) {
		uint64_t s = ext_size(m, &m->ext[i]);
		if (s != m->uniform && !(i == m->n - 1 && s && s <= m->uniform)) { m->uniform = 0; break; }
	}
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); /* CPU time: fair on a busy machine */
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc != 6) { fprintf(stderr, "usage: resolve NAME MAP POSITIONS REPS walk|uniform\n"); return 2; }
	struct map m;
	load_map(argv[2], &m);
	FILE *f = fopen(argv[3], "rb");
	if (!f) { perror(argv[3]); return 2; }
	fseek(f, 0, SEEK_END);
	size_t n = ftell(f) / 8;
	fseek(f, 0, SEEK_SET);
	uint64_t *pos = malloc(n * 8);
	if (fread(pos, 8, n, f) != n) return 3;
	fclose(f);
	long reps = atol(argv[4]);
	int uniform = strcmp(argv[5], "uniform") == 0;
	if (uniform && !m.uniform) { fprintf(stderr, "map is not uniform\n"); return 2; }
	uint32_t acc = 0;
	struct mapping out = {0};
	double t0 = now();
	for (long r = 0; r < reps; r++) {
		for (size_t i = 0; i < n; i++) {
			int ok = uniform ? resolve_uniform(&m, pos[i], &out) : resolve_walk(&m, pos[i], &out);
			if (ok <= 0) { fprintf(stderr, "pos %lu unmapped\n", pos[i]); return 4; }
			acc = acc + (uint32_t)out.offset + (uint32_t)out.length + out.daxdev;
		}
	}
	double t = now() - t0;
	printf("%s %.3f %u\n", argv[1], t * 1e9 / ((double)n * reps), acc);
	return 0;
}
