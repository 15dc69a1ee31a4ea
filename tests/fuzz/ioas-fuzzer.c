/*
 * Model-based libFuzzer harness for the IOAS ioctls, shaped after
 * libvfio-user's B-tree fuzz test: the input decodes into a program of
 * IOAS_MAP, UNMAP, COPY, ALLOW_IOVAS, IOVA_RANGES, OPTION HUGE_PAGES,
 * IOAS_ALLOC/DESTROY and the selftest's reserved ranges and emulated
 * device accesses (CREATE_ACCESS, ACCESS_PAGES, DESTROY_ACCESS_PAGES,
 * ACCESS_RW), all through isim_ioctl().  A shadow model written from
 * spec/core.md §4, §5 and §8 (sorted arrays of areas with the address
 * backing each, allowed and reserved ranges, accesses and their pins)
 * predicts every errno and every automatic IOVA.  After each step the
 * harness aborts unless the simulator agreed, its areas (mirrored from the
 * iopt.area_* trace points, the public way to see them) equal the model's,
 * IOVA_RANGES reports the model's reserved gaps and alignment, and
 * isim_check() holds.  ACCESS_RW and ACCESS_PAGES with a uptr also check
 * that each IOVA is backed by the very byte the model says.
 *
 * IOVA arguments use syzkaller's trick: a 64-bit value is mostly read as
 * {nth area, offset}, so the fuzzer reaches mapped IOVA without having to
 * guess it.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "tests/fuzz/fuzz.h"

#define PS		4096ull
#define HPAGE		(PS * (PS / 8))	/* the PMD size auto IOVA caps at */
#define U64_MAX		UINT64_MAX
#define NBUF		3
#define BUF_PAGES	16
#define BUF_SIZE	(BUF_PAGES * PS)
#define NIOAS		2
#define MAX_AREAS	96
#define MAX_RANGES	8
#define NACC		3
#define MAX_ITEMS	16
#define MAX_OPS		192
#define MAX_MIRROR	(2 * NIOAS * MAX_AREAS + 16)
#define XFER_MAX	(16ull << 20)	/* the selftest's cap on one access */
#define RW_MAX		(2 * BUF_SIZE)
#define BAD_ID		0x7ffffff0u
#define MAP_PROT	(IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)

struct ival {
	uint64_t start, last;
};

struct marea {
	uint64_t iova, last;
	uint64_t va;		/* program address backing @iova */
	uint32_t prot;		/* IOMMU_IOAS_MAP_READABLE/WRITEABLE */
	bool writable;		/* its pages came from a WRITEABLE map */
	bool wild;		/* backing leaves the buffers: no pin, no rw */
};

struct mioas {
	uint32_t id;		/* 0: slot empty */
	bool no_huge;
	struct marea areas[MAX_AREAS];	/* sorted by iova */
	size_t nareas;
	struct ival allowed[MAX_RANGES];
	size_t nallowed;
	struct ival resv[MAX_RANGES];
	size_t nresv;
};

struct mitem {
	uint32_t id;
	uint64_t iova, last;
};

struct macc {
	int efd;		/* -1: slot empty */
	int ioas;		/* model slot it is attached to */
	bool pin;
	uint32_t next_id;
	struct mitem items[MAX_ITEMS];
	size_t nitems;
};

static struct world {
	struct isim_machine *m;
	struct isim_fd *fd;
	uint8_t *buf[NBUF];
	struct mioas ioas[NIOAS];
	struct macc acc[NACC];
	struct {
		uint32_t ioas;
		uint64_t iova, last;
	} mir[MAX_MIRROR];
	size_t nmir;
	unsigned step;
	const char *op;
} w;

static uint8_t xfer[RW_MAX];
static uint8_t shadow[NBUF][BUF_SIZE];

/* ------------------------------------------------------------ reporting */

/* ISIM_FUZZ_VERBOSE=1 prints every call: a reproducer's story. */
static bool verbose;

static void expect(int rc, int want, const char *what)
{
	if (verbose)
		fprintf(stderr, "step %u %s: %d\n", w.step, what, rc);
	if (rc != want)
		fuzz_die("step %u %s: %s returned %d, the model expects %d",
			 w.step, w.op, what, rc, want);
}

/* A MAP or COPY agreed; a success also at the IOVA the model picked. */
static bool placed(int rc, int want, const char *what, uint64_t got,
		   uint64_t iova)
{
	expect(rc, want, what);
	if (!want && got != iova)
		fuzz_die("step %u %s: placed at %#" PRIx64 ", the model at %#"
			 PRIx64, w.step, what, got, iova);
	return !want;
}

/* --------------------------------------------------- area mirror (trace) */

static void mirror_sink(void *arg, const struct isim_trace_event *ev)
{
	unsigned long long iova, last;
	unsigned id;

	if (strncmp(ev->point, "iopt.area_", 10) ||
	    sscanf(ev->args, "ioas=%u iova=%llx last=%llx", &id, &iova,
		   &last) != 3)
		return;
	if (!strcmp(ev->point, "iopt.area_insert")) {
		if (w.nmir == MAX_MIRROR)
			fuzz_die("area mirror full");
		w.mir[w.nmir].ioas = id;
		w.mir[w.nmir].iova = iova;
		w.mir[w.nmir++].last = last;
		return;
	}
	for (size_t i = 0; i < w.nmir; i++) {
		if (w.mir[i].ioas == id && w.mir[i].iova == iova &&
		    w.mir[i].last == last) {
			w.mir[i] = w.mir[--w.nmir];
			return;
		}
	}
	fuzz_die("step %u %s: area_remove of ioas %u [%#llx, %#llx] never "
		 "inserted", w.step, w.op, id, iova, last);
}

static void mirror_forget(uint32_t id)
{
	for (size_t i = 0; i < w.nmir;)
		if (w.mir[i].ioas == id)
			w.mir[i] = w.mir[--w.nmir];
		else
			i++;
}

/* ------------------------------------------------------- model: ranges */

static bool overlaps(uint64_t s1, uint64_t l1, uint64_t s2, uint64_t l2)
{
	return s1 <= l2 && s2 <= l1;
}

static int ival_cmp(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sort and join overlapping or adjacent ranges: the kernel's spans. */
static size_t spans(struct ival *v, size_t n)
{
	size_t k = 0;

	qsort(v, n, sizeof(*v), ival_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k && (v[k - 1].last == U64_MAX ||
			  v[i].start <= v[k - 1].last + 1)) {
			if (v[i].last > v[k - 1].last)
				v[k - 1].last = v[i].last;
			continue;
		}
		v[k++] = v[i];
	}
	return k;
}

/* Reserved ranges, and areas too when @areas, as spans. */
static size_t used_spans(const struct mioas *io, bool areas, struct ival *v)
{
	size_t n = 0;

	for (size_t i = 0; i < io->nresv; i++)
		v[n++] = io->resv[i];
	for (size_t i = 0; areas && i < io->nareas; i++)
		v[n++] = (struct ival){ io->areas[i].iova, io->areas[i].last };
	return spans(v, n);
}

static bool hits_resv(const struct mioas *io, uint64_t s, uint64_t l)
{
	for (size_t i = 0; i < io->nresv; i++)
		if (overlaps(s, l, io->resv[i].start, io->resv[i].last))
			return true;
	return false;
}

static bool hits_area(const struct mioas *io, uint64_t s, uint64_t l)
{
	for (size_t i = 0; i < io->nareas; i++)
		if (overlaps(s, l, io->areas[i].iova, io->areas[i].last))
			return true;
	return false;
}

static bool hits_allowed(const struct mioas *io, uint64_t s, uint64_t l)
{
	for (size_t i = 0; i < io->nallowed; i++)
		if (overlaps(s, l, io->allowed[i].start, io->allowed[i].last))
			return true;
	return false;
}

static uint64_t m_align(int s)
{
	uint64_t a = w.ioas[s].no_huge ? PS : 1;

	for (int i = 0; i < NACC; i++)
		if (w.acc[i].efd >= 0 && w.acc[i].ioas == s && w.acc[i].pin)
			a = PS;
	return a;
}

static bool conforms(const struct mioas *io, uint64_t align)
{
	for (size_t i = 0; i < io->nareas; i++) {
		const struct marea *a = &io->areas[i];

		if (a->iova % align || (a->last - a->iova + 1) % align ||
		    (a->va % PS) % align)
			return false;
	}
	return true;
}

/* ----------------------------------------------- model: IOVA allocation */

/* §4.5 step 7: where a run [s, l] would place @len, if anywhere. */
static bool m_fits(uint64_t s, uint64_t l, uint64_t align, uint64_t po,
		   uint64_t len, uint64_t *at)
{
	uint64_t a;

	if (__builtin_add_overflow(s, align - 1, &a))
		return false;
	a = (a & ~(align - 1)) | po;
	if (a >= l || l - a < len - 1)
		return false;
	*at = a;
	return true;
}

/* First hole of @used (sorted spans) inside [s, l] that fits. */
static bool m_hole(const struct ival *used, size_t n, uint64_t s, uint64_t l,
		   uint64_t align, uint64_t po, uint64_t len, uint64_t *at)
{
	uint64_t cur = s;

	for (size_t i = 0; i < n && used[i].start <= l; i++) {
		if (used[i].last < cur)
			continue;
		if (used[i].start > cur &&
		    m_fits(cur, used[i].start - 1, align, po, len, at))
			return true;
		if (used[i].last >= l)
			return false;
		cur = used[i].last + 1;
	}
	return m_fits(cur, l, align, po, len, at);
}

static int m_alloc(int s, uint64_t addr, uint64_t len, uint64_t *iova)
{
	const struct mioas *io = &w.ioas[s];
	struct ival win[MAX_RANGES], used[MAX_RANGES + MAX_AREAS];
	uint64_t po = addr % PS, align, at;
	size_t nwin, nused;

	if (!len || len >= U64_MAX / 2)
		return -EOVERFLOW;
	align = len <= 1 ? 1 : 1ull << (64 - __builtin_clzll(len - 1));
	if (addr && (addr & -addr) < align)
		align = addr & -addr;
	if (align >= HPAGE)
		align = HPAGE;
	if (align < m_align(s))
		return -EINVAL;
	if (io->nallowed) {
		memcpy(win, io->allowed, io->nallowed * sizeof(*win));
		nwin = spans(win, io->nallowed);
	} else {
		win[0] = (struct ival){ 0, U64_MAX };
		nwin = 1;
	}
	nused = used_spans(io, true, used);
	for (size_t i = 0; i < nwin; i++) {
		uint64_t ws = win[i].start < PS ? PS : win[i].start;
		uint64_t wl = win[i].last > U64_MAX - PS ? U64_MAX - PS :
							    win[i].last;

		if (ws > wl || !m_fits(ws, wl, align, po, len, &at))
			continue;
		if (m_hole(used, nused, at, wl, align, po, len, iova))
			return 0;
	}
	return -ENOSPC;
}

/* MAP steps 6-7 (§4.4), shared with COPY. */
static int m_place(int s, uint64_t addr, uint64_t len, bool fixed,
		   uint64_t *iova)
{
	const struct mioas *io = &w.ioas[s];
	uint64_t align = m_align(s);

	if (len % align)
		return -EINVAL;
	if (!fixed)
		return m_alloc(s, addr, len, iova);
	if (*iova % align)
		return -EINVAL;
	if (*iova + (len - 1) < *iova)
		return -EOVERFLOW;
	if (hits_resv(io, *iova, *iova + len - 1))
		return -EINVAL;
	if (hits_area(io, *iova, *iova + len - 1))
		return -EEXIST;
	return 0;
}

/* -------------------------------------------------- model: area changes */

static void m_insert(int s, const struct marea *a)
{
	struct mioas *io = &w.ioas[s];
	size_t i = 0;

	while (i < io->nareas && io->areas[i].iova < a->iova)
		i++;
	memmove(&io->areas[i + 1], &io->areas[i],
		(io->nareas - i) * sizeof(*a));
	io->areas[i] = *a;
	io->nareas++;
}

/* The accesses on @s drop every pin touching [s, l] (staccess_unmap). */
static void m_drop_items(int s, uint64_t start, uint64_t last)
{
	for (int i = 0; i < NACC; i++) {
		struct macc *ac = &w.acc[i];

		if (ac->efd < 0 || ac->ioas != s)
			continue;
		for (size_t j = 0; j < ac->nitems;) {
			if (overlaps(start, last, ac->items[j].iova,
				     ac->items[j].last))
				ac->items[j] = ac->items[--ac->nitems];
			else
				j++;
		}
	}
}

/* §4.8's range algorithm with external pins always given back. */
static int m_unmap(int s, uint64_t start, uint64_t last, uint64_t *done)
{
	struct mioas *io = &w.ioas[s];

	*done = 0;
	for (size_t i = 0; i < io->nareas; i++) {
		struct marea *a = &io->areas[i];

		if (a->last < start)
			continue;
		if (a->iova > last)
			break;
		if (a->iova < start || a->last > last)
			return -ENOENT;
		m_drop_items(s, a->iova, a->last);
		*done += a->last - a->iova + 1;
		memmove(a, a + 1, (io->nareas - i - 1) * sizeof(*a));
		io->nareas--;
		i--;
	}
	return 0;
}

/*
 * The areas that cover [iova, last] back to back from @iova, as the
 * kernel's contiguous iterator walks them: their count in *n (indices
 * from *first), and whether they reach @last.
 */
static bool m_contig(const struct mioas *io, uint64_t iova, uint64_t last,
		     size_t *first, size_t *n)
{
	size_t i = 0;

	*n = 0;
	while (i < io->nareas && io->areas[i].last < iova)
		i++;
	*first = i;
	if (i == io->nareas || io->areas[i].iova > iova)
		return false;
	for (;; i++) {
		(*n)++;
		if (io->areas[i].last >= last)
			return true;
		if (i + 1 == io->nareas ||
		    io->areas[i + 1].iova != io->areas[i].last + 1)
			return false;
	}
}

static bool m_any_wild(const struct mioas *io, uint64_t iova, uint64_t last)
{
	for (size_t i = 0; i < io->nareas; i++)
		if (io->areas[i].wild &&
		    overlaps(iova, last, io->areas[i].iova, io->areas[i].last))
			return true;
	return false;
}

/* ---------------------------------------------------- checks after steps */

static void verify_ranges(int s)
{
	const struct mioas *io = &w.ioas[s];
	struct iommu_iova_range r[MAX_RANGES + 2];
	struct ival used[MAX_RANGES], gap[MAX_RANGES + 1];
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = io->id,
		.num_iovas = MAX_RANGES + 2,
		.allowed_iovas = (uintptr_t)r,
	};
	size_t nused = used_spans(io, false, used), ngap = 0;
	uint64_t cur = 0;
	bool end = false;

	for (size_t i = 0; i < nused; i++) {
		if (used[i].start > cur)
			gap[ngap++] = (struct ival){ cur, used[i].start - 1 };
		if (used[i].last == U64_MAX) {
			end = true;
			break;
		}
		cur = used[i].last + 1;
	}
	if (!end)
		gap[ngap++] = (struct ival){ cur, U64_MAX };
	expect(isim_ioctl(w.fd, IOMMU_IOAS_IOVA_RANGES, &cmd), 0,
	       "IOVA_RANGES read-back");
	if (cmd.num_iovas != ngap || cmd.out_iova_alignment != m_align(s))
		fuzz_die("step %u %s: ioas %u reports %u ranges, alignment "
			 "%#llx; the model has %zu, %#llx", w.step, w.op,
			 io->id, cmd.num_iovas,
			 (unsigned long long)cmd.out_iova_alignment, ngap,
			 (unsigned long long)m_align(s));
	for (size_t i = 0; i < ngap; i++)
		if (r[i].start != gap[i].start || r[i].last != gap[i].last)
			fuzz_die("step %u %s: ioas %u range %zu differs",
				 w.step, w.op, io->id, i);
}

static void verify_areas(int s)
{
	const struct mioas *io = &w.ioas[s];
	size_t n = 0;

	for (size_t i = 0; i < w.nmir; i++)
		n += w.mir[i].ioas == io->id;
	for (size_t i = 0; i < io->nareas; i++) {
		const struct marea *a = &io->areas[i];
		size_t j = 0;

		while (j < w.nmir && (w.mir[j].ioas != io->id ||
				      w.mir[j].iova != a->iova ||
				      w.mir[j].last != a->last))
			j++;
		if (j == w.nmir)
			fuzz_die("step %u %s: ioas %u lacks the model's area "
				 "[%#" PRIx64 ", %#" PRIx64 "]", w.step, w.op,
				 io->id, a->iova, a->last);
	}
	if (n != io->nareas)
		fuzz_die("step %u %s: ioas %u has %zu areas, the model %zu",
			 w.step, w.op, io->id, n, io->nareas);
}

static void verify(void)
{
	for (int s = 0; s < NIOAS; s++) {
		if (!w.ioas[s].id)
			continue;
		verify_areas(s);
		verify_ranges(s);
	}
	fuzz_check(w.m, w.op);
}

/* ------------------------------------------------------ argument decode */

/* A live IOAS slot, or -1 (an ID that names no IOAS) now and then. */
static int slot_arg(struct fuzz_in *in, uint32_t *id)
{
	uint8_t v = fuzz_u8(in);
	int s = v % NIOAS;

	if (v >= 0xf8 || !w.ioas[s].id) {
		*id = v & 1 ? BAD_ID : 0;
		return -1;
	}
	*id = w.ioas[s].id;
	return s;
}

/* syzkaller's IOVA: {nth area, offset} mostly, else the raw value. */
static uint64_t iova_arg(struct fuzz_in *in, int s)
{
	uint64_t v = fuzz_u64(in), len, off = v >> 16;
	const struct mioas *io = s < 0 ? NULL : &w.ioas[s];
	const struct marea *a;

	if (!io || !io->nareas || (v & 3) == 3)
		return v;
	a = &io->areas[((v >> 2) & 0xff) % io->nareas];
	len = a->last - a->iova + 1;
	if (v & (1 << 10))
		off = off % (len / PS + 2) * PS;
	else
		off %= len + 1;
	return a->iova + off;
}

/* Mostly whole pages or bytes up to @room, else an edge value. */
static uint64_t len_arg(struct fuzz_in *in, uint64_t room)
{
	static const uint64_t edge[] = {
		0, 1, PS - 1, PS + 1, U64_MAX, U64_MAX - 1, U64_MAX / 2,
		SIZE_MAX - PS + 1, 1ull << 40, HPAGE,
	};
	uint8_t tag = fuzz_u8(in);

	if (tag < 0xe0 && room >= PS && !(tag & 1))
		return (1 + fuzz_u8(in) % (room / PS)) * PS;
	if (tag < 0xe0 && room)
		return 1 + fuzz_u16(in) % room;
	if (tag < 0xf8)
		return edge[tag % (sizeof(edge) / sizeof(edge[0]))];
	return fuzz_u64(in);
}

/* An IOVA range: whole areas i..j most of the time, perturbed a bit. */
static void range_arg(struct fuzz_in *in, int s, uint64_t *iova,
		      uint64_t *len)
{
	const struct mioas *io = s < 0 ? NULL : &w.ioas[s];
	uint8_t tag = fuzz_u8(in);

	if (io && io->nareas && tag < 0xa0) {
		size_t i = fuzz_u8(in) % io->nareas;
		size_t j = i + tag % 3;

		if (j >= io->nareas)
			j = io->nareas - 1;
		*iova = io->areas[i].iova;
		*len = io->areas[j].last - *iova + 1;
		if (tag & 0x10)
			*iova += tag & 0x20 ? PS : 1;
		if (tag & 0x40)
			*len -= tag & 0x80 ? PS : 1;
		return;
	}
	*iova = iova_arg(in, s);
	*len = len_arg(in, RW_MAX);
}

static uint32_t prot_arg(uint8_t f)
{
	static const uint32_t prot[] = {
		MAP_PROT, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE,
		MAP_PROT,
	};

	return prot[(f >> 1) & 3];
}

/* ------------------------------------------------------------ IOAS ops */

static void op_map(struct fuzz_in *in)
{
	uint8_t f = fuzz_u8(in), bsel = fuzz_u8(in);
	uint32_t id;
	int s = slot_arg(in, &id);
	uint64_t off = bsel & 0x80 ? fuzz_u16(in) % BUF_SIZE :
				     (bsel & 0x7f) % BUF_PAGES * PS;
	uint64_t va = (uintptr_t)w.buf[bsel % NBUF] + off;
	uint64_t len = len_arg(in, BUF_SIZE - off), iova = 0, end;
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = prot_arg(f) | (f & 1 ? IOMMU_IOAS_MAP_FIXED_IOVA : 0),
		.ioas_id = id,
	};
	bool wild = len > BUF_SIZE - off;
	int want = 0, rc;

	w.op = "IOAS_MAP";
	if ((f & 0xe0) == 0xe0) {
		/* The rare rows of §8.4 that come before any lookup. */
		switch ((f >> 3) & 3) {
		case 0: cmd.flags &= ~MAP_PROT; break;
		case 1: cmd.flags |= 1u << 8; break;
		case 2: cmd.__reserved = 1; break;
		case 3: va = fuzz_u64(in); wild = true; break;
		}
	}
	if (cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA)
		iova = iova_arg(in, s);
	cmd.user_va = va;
	cmd.length = len;
	cmd.iova = iova;
	if (s >= 0 && w.ioas[s].nareas == MAX_AREAS)
		return;

	if ((cmd.flags & ~(MAP_PROT | IOMMU_IOAS_MAP_FIXED_IOVA)) ||
	    cmd.__reserved)
		want = -EOPNOTSUPP;
	else if (iova == U64_MAX || len == U64_MAX)
		want = -EOVERFLOW;
	else if (!(cmd.flags & MAP_PROT))
		want = -EINVAL;
	else if (s < 0)
		want = -ENOENT;
	else if (__builtin_add_overflow(va, len, &end))
		want = -EOVERFLOW;
	else if (!len || len > SIZE_MAX - PS)
		want = -EINVAL;
	else
		want = m_place(s, va, len,
			       cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA, &iova);
	if (!want && (va % PS) % m_align(s))
		want = -EINVAL;

	rc = isim_ioctl(w.fd, IOMMU_IOAS_MAP, &cmd);
	if (!placed(rc, want, "IOAS_MAP", cmd.iova, iova))
		return;
	m_insert(s, &(struct marea){
		.iova = iova, .last = iova + len - 1, .va = va,
		.prot = cmd.flags & MAP_PROT,
		.writable = cmd.flags & IOMMU_IOAS_MAP_WRITEABLE,
		.wild = wild,
	});
}

static void op_unmap(struct fuzz_in *in)
{
	uint32_t id;
	int s = slot_arg(in, &id);
	uint8_t tag = fuzz_u8(in);
	struct iommu_ioas_unmap cmd = { .size = sizeof(cmd), .ioas_id = id };
	uint64_t done = 0, iova = 0, len = U64_MAX;
	int want;

	w.op = "IOAS_UNMAP";
	if (tag >= 0x20)
		range_arg(in, s, &iova, &len);
	cmd.iova = iova;
	cmd.length = len;
	if (s < 0)
		want = -ENOENT;
	else if (!cmd.iova && cmd.length == U64_MAX)
		want = m_unmap(s, 0, U64_MAX, &done);
	else if (cmd.iova == U64_MAX || cmd.length == U64_MAX)
		want = -EOVERFLOW;
	else if (!cmd.length)
		want = -EINVAL;
	else if (cmd.iova + (cmd.length - 1) < cmd.iova)
		want = -EOVERFLOW;
	else if (!(want = m_unmap(s, cmd.iova, cmd.iova + cmd.length - 1,
				  &done)) && !done)
		want = -ENOENT;
	expect(isim_ioctl(w.fd, IOMMU_IOAS_UNMAP, &cmd), want, "IOAS_UNMAP");
	if (!want && cmd.length != done)
		fuzz_die("step %u: UNMAP reports %#llx bytes, the model %#"
			 PRIx64, w.step, (unsigned long long)cmd.length, done);
}

static void op_copy(struct fuzz_in *in)
{
	uint8_t f = fuzz_u8(in);
	uint32_t src_id, dst_id;
	int src = slot_arg(in, &src_id), dst = slot_arg(in, &dst_id);
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = prot_arg(f) | (f & 1 ? IOMMU_IOAS_MAP_FIXED_IOVA : 0),
		.dst_ioas_id = dst_id,
		.src_ioas_id = src_id,
	};
	struct marea piece[MAX_AREAS];
	size_t first = 0, n = 0;
	uint64_t last = 0, iova = 0, src_iova, len;
	int want = 0, rc;

	w.op = "IOAS_COPY";
	range_arg(in, src, &src_iova, &len);
	cmd.src_iova = src_iova;
	cmd.length = len;
	if (cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA)
		iova = iova_arg(in, dst);
	if ((f & 0xe0) == 0xe0)
		cmd.flags = f & 0x10 ? cmd.flags & ~MAP_PROT :
				       cmd.flags | 1u << 9;
	cmd.dst_iova = iova;

	if (cmd.flags & ~(MAP_PROT | IOMMU_IOAS_MAP_FIXED_IOVA))
		want = -EOPNOTSUPP;
	else if (cmd.length == U64_MAX || cmd.src_iova == U64_MAX ||
		 iova == U64_MAX)
		want = -EOVERFLOW;
	else if (!(cmd.flags & MAP_PROT))
		want = -EINVAL;
	else if (src < 0)
		want = -ENOENT;
	else if (!cmd.length)
		want = -EINVAL;
	else if (__builtin_add_overflow(cmd.src_iova, cmd.length - 1, &last))
		want = -EOVERFLOW;
	else if (!m_contig(&w.ioas[src], cmd.src_iova, last, &first, &n))
		want = -ENOENT;
	else if (dst < 0)
		want = -ENOENT;
	if (!want && w.ioas[dst].nareas + n > MAX_AREAS)
		return;

	/* One destination area per source piece, back to back. */
	for (size_t i = 0; !want && i < n; i++) {
		const struct marea *a = &w.ioas[src].areas[first + i];
		uint64_t from = a->iova > cmd.src_iova ? a->iova : cmd.src_iova;
		uint64_t to = a->last < last ? a->last : last;

		piece[i] = *a;
		piece[i].va = a->va + (from - a->iova);
		piece[i].iova = from - cmd.src_iova;
		piece[i].last = to - cmd.src_iova;
		piece[i].prot = cmd.flags & MAP_PROT;
	}
	if (!want)
		want = m_place(dst, piece[0].va, cmd.length,
			       cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA, &iova);
	for (size_t i = 0; !want && i < n; i++) {
		if ((cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) &&
		    !piece[i].writable)
			want = -EPERM;
		else if ((piece[i].va % PS) % m_align(dst))
			want = -EINVAL;
	}

	rc = isim_ioctl(w.fd, IOMMU_IOAS_COPY, &cmd);
	if (!placed(rc, want, "IOAS_COPY", cmd.dst_iova, iova))
		return;
	for (size_t i = 0; i < n; i++) {
		piece[i].iova += iova;
		piece[i].last += iova;
		m_insert(dst, &piece[i]);
	}
}

static void op_allow(struct fuzz_in *in)
{
	uint32_t id;
	int s = slot_arg(in, &id);
	uint8_t f = fuzz_u8(in);
	size_t n = f % 4;
	struct iommu_iova_range r[3];
	struct iommu_ioas_allow_iovas cmd = {
		.size = sizeof(cmd),
		.num_iovas = (uint32_t)n,
		.ioas_id = id,
		.allowed_iovas = (uintptr_t)r,
	};
	int want = 0;

	w.op = "IOAS_ALLOW_IOVAS";
	for (size_t i = 0; i < n; i++) {
		r[i].start = iova_arg(in, s);
		r[i].last = f & (0x10 << i) ? r[i].start + len_arg(in, RW_MAX) :
					      fuzz_u64(in);
	}
	if (s < 0)
		want = -ENOENT;
	for (size_t i = 0; !want && i < n; i++) {
		if (r[i].start >= r[i].last)
			want = -EINVAL;
		for (size_t j = 0; !want && j < i; j++)
			if (overlaps(r[i].start, r[i].last, r[j].start,
				     r[j].last))
				want = -EINVAL;
	}
	for (size_t i = 0; !want && i < n; i++)
		if (hits_resv(&w.ioas[s], r[i].start, r[i].last))
			want = -EADDRINUSE;
	expect(isim_ioctl(w.fd, IOMMU_IOAS_ALLOW_IOVAS, &cmd), want,
	       "IOAS_ALLOW_IOVAS");
	if (want)
		return;
	for (size_t i = 0; i < n; i++)
		w.ioas[s].allowed[i] = (struct ival){ r[i].start, r[i].last };
	w.ioas[s].nallowed = n;
}

/* IOVA_RANGES with a small capacity: the EMSGSIZE protocol of §4.9. */
static void op_ranges(struct fuzz_in *in)
{
	uint32_t id;
	int s = slot_arg(in, &id);
	struct iommu_iova_range r[2];
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = id,
		.num_iovas = fuzz_u8(in) % 3,
		.allowed_iovas = (uintptr_t)r,
	};
	struct ival used[MAX_RANGES];
	uint32_t cap = cmd.num_iovas, count = 0;
	uint64_t cur = 0;
	bool end = false;
	int want;

	w.op = "IOAS_IOVA_RANGES";
	if (s >= 0) {
		size_t n = used_spans(&w.ioas[s], false, used);

		for (size_t i = 0; i < n && !end; i++) {
			count += used[i].start > cur;
			end = used[i].last == U64_MAX;
			cur = used[i].last + 1;
		}
		count += !end;
	}
	want = s < 0 ? -ENOENT : count > cap ? -EMSGSIZE : 0;
	expect(isim_ioctl(w.fd, IOMMU_IOAS_IOVA_RANGES, &cmd), want,
	       "IOAS_IOVA_RANGES");
	if (s >= 0 && cmd.num_iovas != count)
		fuzz_die("step %u: IOVA_RANGES counts %u, the model %u",
			 w.step, cmd.num_iovas, count);
}

static void op_reserve(struct fuzz_in *in)
{
	uint32_t id;
	int s = slot_arg(in, &id);
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_ADD_RESERVED,
		.id = id,
	};
	uint64_t last;
	int want = 0;

	w.op = "ADD_RESERVED";
	if (s >= 0 && w.ioas[s].nresv == MAX_RANGES)
		return;
	cmd.add_reserved.start = iova_arg(in, s);
	cmd.add_reserved.length = len_arg(in, RW_MAX);
	if (!cmd.add_reserved.length)
		want = -EINVAL;
	else if (__builtin_add_overflow(cmd.add_reserved.start,
					cmd.add_reserved.length - 1, &last))
		want = -EOVERFLOW;
	else if (s < 0)
		want = -ENOENT;
	else if (hits_area(&w.ioas[s], cmd.add_reserved.start, last) ||
		 hits_allowed(&w.ioas[s], cmd.add_reserved.start, last))
		want = -EADDRINUSE;
	expect(isim_ioctl(w.fd, IOMMU_TEST_CMD, &cmd), want, "ADD_RESERVED");
	if (!want)
		w.ioas[s].resv[w.ioas[s].nresv++] =
			(struct ival){ cmd.add_reserved.start, last };
}

static void op_huge(struct fuzz_in *in)
{
	uint32_t id;
	int s = slot_arg(in, &id);
	uint8_t f = fuzz_u8(in);
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = IOMMU_OPTION_HUGE_PAGES,
		.op = f & 1 ? IOMMU_OPTION_OP_GET : IOMMU_OPTION_OP_SET,
		.object_id = id,
		.val64 = (f >> 1) % 3,
	};
	int want = 0;

	w.op = "OPTION HUGE_PAGES";
	if (s < 0)
		want = -ENOENT;
	else if (cmd.op == IOMMU_OPTION_OP_SET && cmd.val64 > 1)
		want = -EINVAL;
	else if (cmd.op == IOMMU_OPTION_OP_SET && !cmd.val64 &&
		 !conforms(&w.ioas[s], PS))
		want = -EADDRINUSE;
	expect(isim_ioctl(w.fd, IOMMU_OPTION, &cmd), want, "OPTION");
	if (want)
		return;
	if (cmd.op == IOMMU_OPTION_OP_SET)
		w.ioas[s].no_huge = !cmd.val64;
	else if (cmd.val64 != !w.ioas[s].no_huge)
		fuzz_die("step %u: HUGE_PAGES reads %llu", w.step,
			 (unsigned long long)cmd.val64);
}

static void slot_alloc(struct mioas *io)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	w.op = "IOAS_ALLOC";
	expect(isim_ioctl(w.fd, IOMMU_IOAS_ALLOC, &cmd), 0, "IOAS_ALLOC");
	for (int i = 0; i < NIOAS; i++)
		if (w.ioas[i].id == cmd.out_ioas_id)
			fuzz_die("IOAS_ALLOC reused the live ID %u",
				 cmd.out_ioas_id);
	io->id = cmd.out_ioas_id;
	mirror_forget(io->id);
}

/* DESTROY of a live IOAS (EBUSY while an access holds it), or IOAS_ALLOC
 * into an empty slot. */
static void op_lifecycle(struct fuzz_in *in)
{
	int s = fuzz_u8(in) % NIOAS;
	struct mioas *io = &w.ioas[s];
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = io->id };
	int want = 0;

	if (!io->id) {
		slot_alloc(io);
		return;
	}
	w.op = "DESTROY ioas";
	for (int i = 0; i < NACC; i++)
		if (w.acc[i].efd >= 0 && w.acc[i].ioas == s)
			want = -EBUSY;
	expect(isim_ioctl(w.fd, IOMMU_DESTROY, &cmd), want, "DESTROY");
	if (want)
		return;
	mirror_forget(io->id);
	memset(io, 0, sizeof(*io));
}

/* ---------------------------------------------------------- access ops */

static int test_cmd(struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return isim_ioctl(w.fd, IOMMU_TEST_CMD, cmd);
}

static void acc_close(struct macc *ac)
{
	w.op = "close access fd";
	expect(isim_fd_close(w.fd, ac->efd), 0, "isim_fd_close");
	ac->efd = -1;
	ac->nitems = 0;
}

/* CREATE_ACCESS into an empty slot, else close the slot's fd. */
static void op_access(struct fuzz_in *in)
{
	uint8_t f = fuzz_u8(in);
	struct macc *ac = &w.acc[f % NACC];
	uint32_t id;
	int s = slot_arg(in, &id), want = 0;
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = id,
		.create_access.flags = f & 0x10 ?
			MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES : 0,
	};

	if (ac->efd >= 0) {
		acc_close(ac);
		return;
	}
	w.op = "CREATE_ACCESS";
	if ((f & 0xe0) == 0xe0)
		cmd.create_access.flags |= 1u << 7;
	if (cmd.create_access.flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)
		want = -EOPNOTSUPP;
	else if (s < 0)
		want = -ENOENT;
	else if ((f & 0x10) && m_align(s) < PS && !conforms(&w.ioas[s], PS))
		want = -EADDRINUSE;
	expect(test_cmd(&cmd), want, "CREATE_ACCESS");
	if (want)
		return;
	*ac = (struct macc){
		.efd = (int)cmd.create_access.out_access_fd,
		.ioas = s,
		.pin = f & 0x10,
	};
}

static struct macc *acc_arg(struct fuzz_in *in)
{
	struct macc *ac = &w.acc[fuzz_u8(in) % NACC];

	return ac->efd >= 0 ? ac : NULL;
}

/* §5.5 for the pieces of [iova, last]; *contig: VA-contiguous backing. */
static int m_pin(const struct mioas *io, uint64_t iova, uint64_t last,
		 bool write, bool *contig)
{
	size_t first, n;
	bool whole = m_contig(io, iova, last, &first, &n);

	*contig = true;
	for (size_t i = 0; i < n; i++) {
		const struct marea *a = &io->areas[first + i];
		uint64_t cur = i ? a->iova : iova;

		if ((a->va + (cur - a->iova)) % PS)
			return -EINVAL;
		if (a->last < last && (a->va + (a->last - a->iova) + 1) % PS)
			return -EINVAL;
		if (!(a->prot & (write ? IOMMU_IOAS_MAP_WRITEABLE :
					 IOMMU_IOAS_MAP_READABLE)))
			return -EPERM;
		if (i && a->va != a[-1].va + (a[-1].last - a[-1].iova + 1))
			*contig = false;
	}
	return whole ? 0 : -ENOENT;
}

static void op_pin(struct fuzz_in *in)
{
	struct macc *ac = acc_arg(in);
	uint8_t f = fuzz_u8(in);
	struct iommu_test_cmd cmd = { .op = IOMMU_TEST_OP_ACCESS_PAGES };
	uint64_t iova, len, last;
	bool contig = false;
	int want = 0;

	w.op = "ACCESS_PAGES";
	if (!ac || ac->nitems == MAX_ITEMS)
		return;
	range_arg(in, ac->ioas, &iova, &len);
	if (__builtin_add_overflow(iova, len ? len - 1 : 0, &last))
		last = U64_MAX;
	if (len <= XFER_MAX && m_any_wild(&w.ioas[ac->ioas], iova, last))
		return;
	cmd.id = (uint32_t)ac->efd;
	cmd.access_pages.iova = iova;
	cmd.access_pages.length = len;
	cmd.access_pages.flags = f & 1 ? MOCK_FLAGS_ACCESS_WRITE : 0;
	if ((f & 0xe0) == 0xe0)
		cmd.access_pages.flags |= 1u << 4;

	if (len > XFER_MAX)
		want = -ENOMEM;
	else if (cmd.access_pages.flags & ~MOCK_FLAGS_ACCESS_WRITE)
		want = -EOPNOTSUPP;
	else if (!ac->pin)
		want = -EOPNOTSUPP;
	else if (!len)
		want = -EINVAL;
	else if (iova + (len - 1) < iova)
		want = -EOVERFLOW;
	else
		want = m_pin(&w.ioas[ac->ioas], iova, last, f & 1, &contig);
	/* With a uptr the selftest compares each pinned frame with the one
	 * behind the model's backing address. */
	if (!want && contig && (f & 2)) {
		size_t first, n;

		m_contig(&w.ioas[ac->ioas], iova, last, &first, &n);
		cmd.access_pages.uptr = w.ioas[ac->ioas].areas[first].va +
			(iova - w.ioas[ac->ioas].areas[first].iova);
	}
	expect(test_cmd(&cmd), want, "ACCESS_PAGES");
	if (want)
		return;
	if (cmd.access_pages.out_access_pages_id != ac->next_id)
		fuzz_die("step %u: pin item %u, the model %u", w.step,
			 cmd.access_pages.out_access_pages_id, ac->next_id);
	ac->items[ac->nitems++] = (struct mitem){ ac->next_id++, iova, last };
}

static void op_unpin(struct fuzz_in *in)
{
	struct macc *ac = acc_arg(in);
	uint8_t f = fuzz_u8(in);
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
	};
	size_t i = 0;
	int want;

	w.op = "DESTROY_ACCESS_PAGES";
	if (!ac)
		return;
	cmd.id = (uint32_t)ac->efd;
	cmd.destroy_access_pages.access_pages_id =
		ac->nitems && f < 0xf0 ? ac->items[f % ac->nitems].id : f;
	while (i < ac->nitems &&
	       ac->items[i].id != cmd.destroy_access_pages.access_pages_id)
		i++;
	want = i < ac->nitems ? 0 : -ENOENT;
	expect(test_cmd(&cmd), want, "DESTROY_ACCESS_PAGES");
	if (!want)
		ac->items[i] = ac->items[--ac->nitems];
}

/* §5.8; a success must move exactly the bytes the model's backing holds. */
static void op_rw(struct fuzz_in *in)
{
	struct macc *ac = acc_arg(in);
	uint8_t f = fuzz_u8(in);
	struct iommu_test_cmd cmd = { .op = IOMMU_TEST_OP_ACCESS_RW };
	const struct mioas *io;
	uint64_t iova, len, last;
	size_t first = 0, n = 0;
	bool write = f & 1;
	int want = 0;

	w.op = "ACCESS_RW";
	if (!ac)
		return;
	io = &w.ioas[ac->ioas];
	range_arg(in, ac->ioas, &iova, &len);
	if (len > RW_MAX && len <= XFER_MAX)
		len = RW_MAX;
	if (__builtin_add_overflow(iova, len ? len - 1 : 0, &last))
		last = U64_MAX;
	if (len <= XFER_MAX && m_any_wild(io, iova, last))
		return;
	if (write)
		fuzz_fill(in, xfer, len <= RW_MAX ? len : 0);
	cmd.id = (uint32_t)ac->efd;
	cmd.access_rw.iova = iova;
	cmd.access_rw.length = len;
	cmd.access_rw.uptr = (uintptr_t)xfer;
	cmd.access_rw.flags = (write ? MOCK_ACCESS_RW_WRITE : 0) |
			      (f & 2 ? MOCK_ACCESS_RW_SLOW_PATH : 0);

	if (len > XFER_MAX)
		want = -ENOMEM;
	else if (!len)
		want = -EINVAL;
	else if (iova + (len - 1) < iova)
		want = -EOVERFLOW;
	else if (!m_contig(io, iova, last, &first, &n))
		want = -ENOENT;
	for (size_t i = 0; i < n; i++)
		if (!(io->areas[first + i].prot &
		      (write ? IOMMU_IOAS_MAP_WRITEABLE :
			       IOMMU_IOAS_MAP_READABLE))) {
			want = -EPERM;
			break;
		}
	/* Areas may share backing bytes, so a write is checked as a whole:
	 * the model replays it piece by piece onto a copy of the buffers. */
	for (int b = 0; write && b < NBUF; b++)
		memcpy(shadow[b], w.buf[b], BUF_SIZE);
	expect(test_cmd(&cmd), want, "ACCESS_RW");
	for (size_t i = 0; !want && i < n; i++) {
		const struct marea *a = &io->areas[first + i];
		uint64_t from = i ? a->iova : iova;
		uint64_t to = a->last < last ? a->last : last;
		uint64_t va = a->va + (from - a->iova);
		int b = 0;

		while (va - (uintptr_t)w.buf[b] >= BUF_SIZE)
			b++;
		if (write)
			memcpy(&shadow[b][va - (uintptr_t)w.buf[b]],
			       xfer + (from - iova), to - from + 1);
		else if (memcmp((const void *)(uintptr_t)va,
				xfer + (from - iova), to - from + 1))
			fuzz_die("step %u: ACCESS_RW read at %#" PRIx64
				 " is not backed by the model's %#" PRIx64,
				 w.step, from, va);
	}
	for (int b = 0; write && !want && b < NBUF; b++)
		if (memcmp(shadow[b], w.buf[b], BUF_SIZE))
			fuzz_die("step %u: ACCESS_RW write at %#" PRIx64
				 " left buffer %d unlike the model", w.step,
				 iova, b);
}

/* ------------------------------------------------------------- driver */

typedef void (*op_fn)(struct fuzz_in *in);

static const op_fn ops[] = {
	op_map, op_map, op_map, op_unmap, op_unmap, op_copy, op_allow,
	op_ranges, op_reserve, op_huge, op_lifecycle, op_access, op_pin,
	op_pin, op_unpin, op_rw,
};

static void world_new(void)
{
	/* Small memory: isim_check() walks every frame after every step. */
	struct isim_machine_config cfg = {
		.mem_size = 8ull << 20,
		.page_size = PS,
	};
	/* Distinct bytes per offset, so rw through a wrong backing shows. */
	static uint8_t pattern[NBUF][BUF_SIZE];
	static bool have_pattern;

	if (!have_pattern) {
		for (size_t j = 0; j < sizeof(pattern); j++)
			(&pattern[0][0])[j] = (uint8_t)(j * 7 + (j >> 12));
		have_pattern = true;
	}

	memset(&w, 0, sizeof(w));
	for (int i = 0; i < NACC; i++)
		w.acc[i].efd = -1;
	if (isim_machine_new(&cfg, &w.m) || isim_open(w.m, &w.fd))
		fuzz_die("cannot make a machine");
	isim_trace_set_sink(w.m, mirror_sink, NULL);
	for (int i = 0; i < NBUF; i++) {
		/* THP regions are 2 MiB aligned: automatic IOVAs, which
		 * follow the alignment of the address, repeat run to run. */
		if (isim_mem_alloc(w.m, BUF_SIZE, ISIM_BACKING_THP,
				   (void **)&w.buf[i]))
			fuzz_die("cannot allocate buffer %d", i);
		memcpy(w.buf[i], pattern[i], BUF_SIZE);
	}
}

static void world_free(void)
{
	w.op = "teardown";
	for (int i = 0; i < NACC; i++)
		if (w.acc[i].efd >= 0)
			acc_close(&w.acc[i]);
	isim_close(w.fd);
	fuzz_check(w.m, "close");
	isim_trace_set_sink(w.m, NULL, NULL);
	for (int i = 0; i < NBUF; i++)
		if (isim_mem_free(w.m, w.buf[i]))
			fuzz_die("buffer %d still pinned after close", i);
	isim_machine_free(w.m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };

	verbose = getenv("ISIM_FUZZ_VERBOSE");
	world_new();
	for (int s = 0; s < NIOAS; s++)
		slot_alloc(&w.ioas[s]);
	verify();
	for (w.step = 1; in.left && w.step <= MAX_OPS; w.step++) {
		ops[fuzz_u8(&in) % (sizeof(ops) / sizeof(ops[0]))](&in);
		verify();
	}
	world_free();
	return 0;
}
