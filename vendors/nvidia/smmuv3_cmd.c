/*
 * SMMUv3 command codec and the guest's view of a VCMDQ (see smmuv3_cmd.h).
 * Every field is described once, by dword and bit range, and every opcode
 * by the set of fields it carries; encode, decode and the RES0 check all
 * walk those two tables, so a layout fact lives in exactly one place.  The
 * guest half uses acquire/release atomics on the page0 words because a
 * hardware model may be consuming on another thread.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "vendors/nvidia/smmuv3_cmd.h"

enum cmd_field {
	F_SSEC, F_SSV, F_SSID, F_SID, F_LEAF, F_RANGE, F_NUM, F_SCALE,
	F_VMID, F_ASID, F_TTL, F_TG, F_ADDR, F_IPA, F_GLOBAL, F_ATC_SIZE,
	F_PF_SIZE, F_CS, F_MSH, F_MSIATTR, F_MSIDATA, F_MSIADDR, F_GRPID,
	F_PRI_RESP, F_RESUME_RESP, F_STAG, F_NR
};

/* Field value = dw[dw] bits hi:lo; `shift` scales it into the struct. */
static const struct {
	uint8_t dw, lo, hi, shift;
} fields[F_NR] = {
	[F_SSEC] = { 0, 10, 10, 0 },
	[F_SSV] = { 0, 11, 11, 0 },
	[F_SSID] = { 0, 12, 31, 0 },
	[F_SID] = { 0, 32, 63, 0 },
	[F_LEAF] = { 1, 0, 0, 0 },
	[F_RANGE] = { 1, 0, 4, 0 },
	[F_NUM] = { 0, 12, 16, 0 },
	[F_SCALE] = { 0, 20, 24, 0 },
	[F_VMID] = { 0, 32, 47, 0 },
	[F_ASID] = { 0, 48, 63, 0 },
	[F_TTL] = { 1, 8, 9, 0 },
	[F_TG] = { 1, 10, 11, 0 },
	[F_ADDR] = { 1, 12, 63, 12 },
	[F_IPA] = { 1, 12, 51, 12 },
	[F_GLOBAL] = { 0, 9, 9, 0 },
	[F_ATC_SIZE] = { 1, 0, 5, 0 },
	[F_PF_SIZE] = { 1, 0, 4, 0 },
	[F_CS] = { 0, 12, 13, 0 },
	[F_MSH] = { 0, 22, 23, 0 },
	[F_MSIATTR] = { 0, 24, 27, 0 },
	[F_MSIDATA] = { 0, 32, 63, 0 },
	[F_MSIADDR] = { 1, 2, 51, 2 },
	[F_GRPID] = { 1, 0, 8, 0 },
	[F_PRI_RESP] = { 1, 12, 13, 0 },
	[F_RESUME_RESP] = { 0, 12, 13, 0 },
	[F_STAG] = { 1, 0, 15, 0 },
};

#define B(f) (1u << (f))
#define TLBI_RANGE (B(F_NUM) | B(F_SCALE) | B(F_LEAF) | B(F_TTL) | B(F_TG))

static const struct {
	const char *name;
	uint32_t fields;
} ops[256] = {
	[0x01] = { "PREFETCH_CFG", B(F_SSEC) | B(F_SSV) | B(F_SSID) | B(F_SID) },
	[0x02] = { "PREFETCH_ADDR", B(F_SSEC) | B(F_SSV) | B(F_SSID) | B(F_SID) |
				    B(F_PF_SIZE) | B(F_ADDR) },
	[0x03] = { "CFGI_STE", B(F_SSEC) | B(F_SID) | B(F_LEAF) },
	[0x04] = { "CFGI_STE_RANGE", B(F_SSEC) | B(F_SID) | B(F_RANGE) },
	[0x05] = { "CFGI_CD", B(F_SSEC) | B(F_SSID) | B(F_SID) | B(F_LEAF) },
	[0x06] = { "CFGI_CD_ALL", B(F_SSEC) | B(F_SID) },
	[0x10] = { "TLBI_NH_ALL", B(F_VMID) },
	[0x11] = { "TLBI_NH_ASID", B(F_VMID) | B(F_ASID) },
	[0x12] = { "TLBI_NH_VA", TLBI_RANGE | B(F_VMID) | B(F_ASID) | B(F_ADDR) },
	[0x13] = { "TLBI_NH_VAA", TLBI_RANGE | B(F_VMID) | B(F_ADDR) },
	[0x18] = { "TLBI_EL3_ALL", 0 },
	[0x1a] = { "TLBI_EL3_VA", TLBI_RANGE | B(F_ADDR) },
	[0x20] = { "TLBI_EL2_ALL", 0 },
	[0x21] = { "TLBI_EL2_ASID", B(F_ASID) },
	[0x22] = { "TLBI_EL2_VA", TLBI_RANGE | B(F_ASID) | B(F_ADDR) },
	[0x23] = { "TLBI_EL2_VAA", TLBI_RANGE | B(F_ADDR) },
	[0x28] = { "TLBI_S12_VMALL", B(F_VMID) },
	[0x2a] = { "TLBI_S2_IPA", TLBI_RANGE | B(F_VMID) | B(F_IPA) },
	[0x30] = { "TLBI_NSNH_ALL", 0 },
	[0x40] = { "ATC_INV", B(F_GLOBAL) | B(F_SSV) | B(F_SSID) | B(F_SID) |
			      B(F_ATC_SIZE) | B(F_ADDR) },
	[0x41] = { "PRI_RESP", B(F_SSV) | B(F_SSID) | B(F_SID) | B(F_GRPID) |
			       B(F_PRI_RESP) },
	[0x44] = { "RESUME", B(F_RESUME_RESP) | B(F_SID) | B(F_STAG) },
	[0x45] = { "STALL_TERM", B(F_SID) },
	[0x46] = { "CMD_SYNC", B(F_CS) | B(F_MSH) | B(F_MSIATTR) | B(F_MSIDATA) |
			       B(F_MSIADDR) },
};

static uint64_t field_mask(enum cmd_field f)
{
	unsigned width = fields[f].hi - fields[f].lo + 1;

	return width == 64 ? UINT64_MAX : (((uint64_t)1 << width) - 1);
}

/* The struct member a field lives in, as a value scaled down by `shift`. */
static uint64_t field_from_cmd(const struct isim_smmu_cmd *c, enum cmd_field f)
{
	switch (f) {
	case F_SSEC: return c->ssec;
	case F_SSV: return c->ssv;
	case F_SSID: return c->ssid;
	case F_SID: return c->sid;
	case F_LEAF: return c->leaf;
	case F_RANGE: return c->range;
	case F_NUM: return c->num;
	case F_SCALE: return c->scale;
	case F_VMID: return c->vmid;
	case F_ASID: return c->asid;
	case F_TTL: return c->ttl;
	case F_TG: return c->tg;
	case F_ADDR: case F_IPA: return c->addr;
	case F_GLOBAL: return c->global;
	case F_ATC_SIZE: case F_PF_SIZE: return c->size;
	case F_CS: return c->cs;
	case F_MSH: return c->msh;
	case F_MSIATTR: return c->msiattr;
	case F_MSIDATA: return c->msidata;
	case F_MSIADDR: return c->msiaddr;
	case F_GRPID: return c->grpid;
	case F_PRI_RESP: case F_RESUME_RESP: return c->resp;
	case F_STAG: return c->stag;
	default: return 0;
	}
}

static void field_to_cmd(struct isim_smmu_cmd *c, enum cmd_field f, uint64_t v)
{
	switch (f) {
	case F_SSEC: c->ssec = v; break;
	case F_SSV: c->ssv = v; break;
	case F_SSID: c->ssid = (uint32_t)v; break;
	case F_SID: c->sid = (uint32_t)v; break;
	case F_LEAF: c->leaf = v; break;
	case F_RANGE: c->range = (uint8_t)v; break;
	case F_NUM: c->num = (uint8_t)v; break;
	case F_SCALE: c->scale = (uint8_t)v; break;
	case F_VMID: c->vmid = (uint16_t)v; break;
	case F_ASID: c->asid = (uint16_t)v; break;
	case F_TTL: c->ttl = (uint8_t)v; break;
	case F_TG: c->tg = (uint8_t)v; break;
	case F_ADDR: case F_IPA: c->addr = v; break;
	case F_GLOBAL: c->global = v; break;
	case F_ATC_SIZE: case F_PF_SIZE: c->size = (uint8_t)v; break;
	case F_CS: c->cs = (uint8_t)v; break;
	case F_MSH: c->msh = (uint8_t)v; break;
	case F_MSIATTR: c->msiattr = (uint8_t)v; break;
	case F_MSIDATA: c->msidata = (uint32_t)v; break;
	case F_MSIADDR: c->msiaddr = v; break;
	case F_GRPID: c->grpid = (uint16_t)v; break;
	case F_PRI_RESP: case F_RESUME_RESP: c->resp = (uint8_t)v; break;
	case F_STAG: c->stag = (uint16_t)v; break;
	default: break;
	}
}

bool isim_smmu_op_known(unsigned op)
{
	return op < 256 && ops[op].name;
}

const char *isim_smmu_op_name(unsigned op)
{
	return isim_smmu_op_known(op) ? ops[op].name : "UNKNOWN";
}

int isim_smmu_cmd_encode(const struct isim_smmu_cmd *cmd, uint64_t dw[2])
{
	uint64_t out[2] = { cmd->op, 0 };

	if (!isim_smmu_op_known(cmd->op))
		return -EINVAL;
	for (unsigned f = 0; f < F_NR; f++) {
		uint64_t v, raw;

		if (!(ops[cmd->op].fields & B(f)))
			continue;
		raw = field_from_cmd(cmd, f);
		/* Address fields must not carry bits below their granule. */
		if (raw & (((uint64_t)1 << fields[f].shift) - 1))
			return -EINVAL;
		v = raw >> fields[f].shift;
		if (v & ~field_mask(f))
			return -EINVAL;
		out[fields[f].dw] |= v << fields[f].lo;
	}
	dw[0] = out[0];
	dw[1] = out[1];
	return 0;
}

int isim_smmu_cmd_decode(const uint64_t dw[2], struct isim_smmu_cmd *cmd)
{
	unsigned op = dw[0] & 0xff;

	memset(cmd, 0, sizeof(*cmd));
	cmd->op = op;
	if (!isim_smmu_op_known(op))
		return -EINVAL;
	for (unsigned f = 0; f < F_NR; f++) {
		uint64_t v;

		if (!(ops[op].fields & B(f)))
			continue;
		v = (dw[fields[f].dw] >> fields[f].lo) & field_mask(f);
		field_to_cmd(cmd, f, v << fields[f].shift);
	}
	return 0;
}

int isim_smmu_cmd_check_fields(const uint64_t dw[2])
{
	uint64_t defined[2] = { 0xff, 0 };
	struct isim_smmu_cmd c;
	unsigned op = dw[0] & 0xff;

	if (isim_smmu_cmd_decode(dw, &c))
		return -EINVAL;
	for (unsigned f = 0; f < F_NR; f++)
		if (ops[op].fields & B(f))
			defined[fields[f].dw] |= field_mask(f) << fields[f].lo;
	if ((dw[0] & ~defined[0]) || (dw[1] & ~defined[1]))
		return -EINVAL;
	if (ops[op].fields & B(F_TG)) {
		if (!c.tg && (c.num || c.scale || c.ttl))
			return -EINVAL;
		if (c.tg && !c.num && !c.scale && !c.ttl)
			return -EINVAL;
	}
	if (op == ISIM_SMMU_OP_ATC_INV && c.size > ISIM_SMMU_ATC_SIZE_ALL)
		return -EINVAL;
	return 0;
}

int isim_smmu_tlbi_nh_all(uint64_t dw[2], uint16_t vmid)
{
	struct isim_smmu_cmd c = { .op = ISIM_SMMU_OP_TLBI_NH_ALL, .vmid = vmid };

	return isim_smmu_cmd_encode(&c, dw);
}

int isim_smmu_tlbi_nh_asid(uint64_t dw[2], uint16_t vmid, uint16_t asid)
{
	struct isim_smmu_cmd c = {
		.op = ISIM_SMMU_OP_TLBI_NH_ASID, .vmid = vmid, .asid = asid,
	};

	return isim_smmu_cmd_encode(&c, dw);
}

int isim_smmu_tlbi_nh_va(uint64_t dw[2], uint16_t vmid, uint16_t asid,
			 uint64_t va, bool leaf)
{
	struct isim_smmu_cmd c = {
		.op = ISIM_SMMU_OP_TLBI_NH_VA, .vmid = vmid, .asid = asid,
		.addr = va, .leaf = leaf,
	};

	return isim_smmu_cmd_encode(&c, dw);
}

int isim_smmu_tlbi_nh_vaa(uint64_t dw[2], uint16_t vmid, uint64_t va,
			  bool leaf)
{
	struct isim_smmu_cmd c = {
		.op = ISIM_SMMU_OP_TLBI_NH_VAA, .vmid = vmid, .addr = va,
		.leaf = leaf,
	};

	return isim_smmu_cmd_encode(&c, dw);
}

int isim_smmu_atc_inv(uint64_t dw[2], uint32_t sid, uint64_t addr,
		      unsigned size_log2)
{
	struct isim_smmu_cmd c = {
		.op = ISIM_SMMU_OP_ATC_INV, .sid = sid, .addr = addr,
		.size = (uint8_t)size_log2,
	};

	if (size_log2 > 63)
		return -EINVAL;
	return isim_smmu_cmd_encode(&c, dw);
}

int isim_smmu_cmd_sync(uint64_t dw[2], unsigned cs)
{
	struct isim_smmu_cmd c = { .op = ISIM_SMMU_OP_CMD_SYNC, .cs = (uint8_t)cs };

	if (cs > 3)
		return -EINVAL;
	return isim_smmu_cmd_encode(&c, dw);
}

int isim_smmu_cfgi_ste(uint64_t dw[2], uint32_t sid, bool leaf)
{
	struct isim_smmu_cmd c = {
		.op = ISIM_SMMU_OP_CFGI_STE, .sid = sid, .leaf = leaf,
	};

	return isim_smmu_cmd_encode(&c, dw);
}

/* ------------------------------------------------------ guest-side view */

static uint32_t load_acq(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_rel(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static uint32_t ptr_mask(const struct isim_vcmdq_guest *g)
{
	return (2u << g->log2size) - 1;
}

/* One poll interval; false once the poll budget is spent. */
static bool guest_poll(struct isim_vcmdq_guest *g, unsigned long *polls)
{
	if (g->max_polls && ++*polls > g->max_polls)
		return false;
	if (g->kick)
		g->kick(g->kick_arg);
	else
		sched_yield();
	return true;
}

void isim_vcmdq_guest_init(struct isim_vcmdq_guest *g, void *page0,
			   unsigned lidx, void *ring, unsigned log2size)
{
	memset(g, 0, sizeof(*g));
	g->regs = (uint32_t *)((char *)page0 + ISIM_VCMDQ_SLOT_STRIDE * lidx);
	g->ring = ring;
	g->log2size = log2size;
	g->prod = __atomic_load_n(isim_vcmdq_reg(g->regs, ISIM_VCMDQ_PROD),
				  __ATOMIC_RELAXED) & ptr_mask(g);
}

bool isim_vcmdq_guest_enabled(struct isim_vcmdq_guest *g)
{
	return load_acq(isim_vcmdq_reg(g->regs, ISIM_VCMDQ_STATUS)) &
	       ISIM_VCMDQ_EN;
}

int isim_vcmdq_guest_enable(struct isim_vcmdq_guest *g, bool en)
{
	unsigned long polls = 0;

	store_rel(isim_vcmdq_reg(g->regs, ISIM_VCMDQ_CONFIG),
		  en ? ISIM_VCMDQ_EN : 0);
	while (isim_vcmdq_guest_enabled(g) != en)
		if (!guest_poll(g, &polls))
			return -ETIMEDOUT;
	return 0;
}

uint32_t isim_vcmdq_guest_cons(struct isim_vcmdq_guest *g)
{
	return load_acq(isim_vcmdq_reg(g->regs, ISIM_VCMDQ_CONS));
}

unsigned isim_vcmdq_guest_space(struct isim_vcmdq_guest *g)
{
	uint32_t cons = isim_vcmdq_guest_cons(g) & ptr_mask(g);
	uint32_t used = (g->prod - cons) & ptr_mask(g);

	return (1u << g->log2size) - used;
}

int isim_vcmdq_guest_push(struct isim_vcmdq_guest *g, const uint64_t dw[2])
{
	if (!isim_vcmdq_guest_space(g))
		return -ENOSPC;
	isim_vcmdq_guest_write_slot(g, g->prod, dw);
	g->prod = (g->prod + 1) & ptr_mask(g);
	return 0;
}

int isim_vcmdq_guest_sync(struct isim_vcmdq_guest *g, uint32_t *ptr)
{
	uint64_t dw[2];
	uint32_t at = g->prod;
	int rc;

	isim_smmu_cmd_sync(dw, ISIM_SMMU_SYNC_CS_NONE);
	rc = isim_vcmdq_guest_push(g, dw);
	if (rc)
		return rc;
	isim_vcmdq_guest_publish(g);
	if (ptr)
		*ptr = at;
	return 0;
}

/*
 * CONS is past @ptr when it is 1..N entries ahead of it in the 2N pointer
 * space; any further "ahead" really means a lap behind.
 */
bool isim_vcmdq_guest_consumed(struct isim_vcmdq_guest *g, uint32_t ptr)
{
	uint32_t cons = isim_vcmdq_guest_cons(g);
	uint32_t ahead = (cons - ptr) & ptr_mask(g);

	return ahead >= 1 && ahead <= (1u << g->log2size);
}

uint32_t isim_vcmdq_guest_gerror_active(struct isim_vcmdq_guest *g)
{
	uint32_t gerror = load_acq(isim_vcmdq_reg(g->regs, ISIM_VCMDQ_GERROR));
	uint32_t gerrorn = load_acq(isim_vcmdq_reg(g->regs, ISIM_VCMDQ_GERRORN));

	return (gerror ^ gerrorn) & ISIM_VCMDQ_GERROR_ALL;
}

int isim_vcmdq_guest_wait(struct isim_vcmdq_guest *g, uint32_t ptr)
{
	unsigned long polls = 0;

	while (!isim_vcmdq_guest_consumed(g, ptr)) {
		if (isim_vcmdq_guest_gerror_active(g) & ISIM_VCMDQ_GERROR_CMDQ_ERR)
			return -EIO;
		if (!guest_poll(g, &polls))
			return -ETIMEDOUT;
	}
	return 0;
}

bool isim_vcmdq_guest_error(struct isim_vcmdq_guest *g, unsigned *cerror,
			    uint32_t *rd)
{
	uint32_t cons;

	/* GERROR is read first: its acquire makes the ERR written before it
	 * visible in the CONS read that follows. */
	if (!(isim_vcmdq_guest_gerror_active(g) & ISIM_VCMDQ_GERROR_CMDQ_ERR))
		return false;
	cons = isim_vcmdq_guest_cons(g);
	if (cerror)
		*cerror = (cons & ISIM_VCMDQ_CONS_ERR_MASK) >>
			  ISIM_VCMDQ_CONS_ERR_SHIFT;
	if (rd)
		*rd = cons & ptr_mask(g);
	return true;
}

void isim_vcmdq_guest_ack(struct isim_vcmdq_guest *g)
{
	store_rel(isim_vcmdq_reg(g->regs, ISIM_VCMDQ_GERRORN),
		  load_acq(isim_vcmdq_reg(g->regs, ISIM_VCMDQ_GERROR)));
}

unsigned isim_vcmdq_guest_skip_error(struct isim_vcmdq_guest *g)
{
	unsigned cerror;
	uint32_t rd;

	if (!isim_vcmdq_guest_error(g, &cerror, &rd))
		return 0;
	/* Like Linux, anything but an abort or an ATC timeout is "illegal". */
	if (cerror != ISIM_SMMU_CERROR_ABT &&
	    cerror != ISIM_SMMU_CERROR_ATC_INV_SYNC) {
		uint64_t dw[2];

		isim_smmu_cmd_sync(dw, ISIM_SMMU_SYNC_CS_NONE);
		isim_vcmdq_guest_write_slot(g, rd, dw);
	}
	isim_vcmdq_guest_ack(g);
	return cerror;
}
