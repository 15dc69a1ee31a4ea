/*
 * The ring consumer of the Tegra241 CMDQV model (see cmdqv_hw.h): each step
 * of a VINTF first runs every LVCMDQ's control transition (cmdqv_hw.c),
 * then consumes commands round-robin within a budget, each queue taking
 * in turn a share of what is left of it.  A queue's turn samples PROD once
 * (acquire) and works through the entries up to it: fetch an entry from
 * the queue's BASE, decode and vet it (guest-owned VINTFs accept only some
 * opcodes, and have their VMID and SID rewritten), carry it out on the
 * IOTLB/ATC (cmdqv_cache.c), or halt the queue with a CERROR right there;
 * CONS is published (release) once for the turn, never past a command
 * that has not taken effect.
 *
 * Entries are fetched with plain loads when the host has declared the
 * ring's memory pinned (the driver does for every HW_QUEUE_ALLOC), else
 * one by one through the memory callbacks.  Opcode verdicts come from a
 * table built once from the configuration, and a run of TLBIs that find
 * the IOTLB empty, with the CMD_SYNCs between them, goes through a loop
 * that makes no call at all; everything else, and every command when an
 * exec hook watches, takes the general path that decodes the entry whole.
 * Error reports go to the driver's callback outside the VINTF lock.  The
 * model runs stepped by its caller or threaded, one polling thread per
 * VINTF; both are driven from here.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "sim/lib/fault.h"
#include "vendors/nvidia/cmdqv_cache.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/cmdqv_hw_private.h"

/* ------------------------------------------------------------- consumer */

/*
 * The class of an opcode in hw->optab (bits 7:4): how the consume loop
 * dispatches it once it is known to be legal (bits 3:0, the CERROR it
 * raises, are 0).
 */
enum {
	OPC_OTHER,	/* the general path, execute() */
	OPC_TLBI,	/* acts on the IOTLB and nothing else */
	OPC_SYNC,	/* CMD_SYNC */
};

#define OPTAB(opc, code)	((uint8_t)((opc) << 4 | (code)))
#define OPTAB_CODE(e)		((e) & 0xfu)
#define OPTAB_CLASS(e)		((e) >> 4)

#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)
#define noinline		__attribute__((noinline))

/* CMD_SYNC's CS field, d0[13:12]. */
#define SYNC_CS(d0)		(((d0) >> 12) & 0x3u)

/* execute()'s answer for a command consumed without any effect. */
#define EXEC_DROPPED		0x100u

static bool sid_lookup(struct isim_cmdqv_vintf *v, uint32_t vsid,
		       uint32_t *psid)
{
	if (vsid > SID20_MASK)
		return false;
	for (unsigned s = 0; s < v->hw->cfg.sids_per_vintf; s++) {
		uint32_t m = ld32(&v->sid_match[s]);

		if ((m & 1) && ((m >> 1) & SID20_MASK) == vsid) {
			*psid = ld32(&v->sid_replace[s]) & SID20_MASK;
			return true;
		}
	}
	return false;
}

/* Which opcodes a guest-owned (HYP_OWN=0) VINTF accepts: 0 or a CERROR. */
static unsigned guest_op_verdict(const struct isim_cmdqv_config *cfg,
				 unsigned op)
{
	switch (op) {
	case ISIM_SMMU_OP_TLBI_NH_ASID:
	case ISIM_SMMU_OP_TLBI_NH_VA:
	case ISIM_SMMU_OP_ATC_INV:
	case ISIM_SMMU_OP_CMD_SYNC:
		return 0;
	case ISIM_SMMU_OP_TLBI_NH_ALL:
	case ISIM_SMMU_OP_TLBI_NH_VAA:
		if (cfg->guest_allow_nh_all_vaa)
			return 0;
		return cfg->privileged_cerror;
	default:
		return cfg->privileged_cerror;
	}
}

/*
 * The verdicts do not depend on anything but the configuration, which is
 * fixed at creation, and on HYP_OWN, which has two values: work them out
 * once for every opcode instead of once per command.
 */
void cmdqv_consumer_setup(struct isim_cmdqv *hw)
{
	for (unsigned op = 0; op < 256; op++) {
		unsigned opc = OPC_OTHER, host = 0, guest;

		/* EL3 invalidations belong to the Secure queue, which no
		 * VCMDQ is. */
		if (!isim_smmu_op_known(op) || op == ISIM_SMMU_OP_TLBI_EL3_ALL ||
		    op == ISIM_SMMU_OP_TLBI_EL3_VA)
			host = ISIM_SMMU_CERROR_ILL;
		guest = host ? host : guest_op_verdict(&hw->cfg, op);
		switch (op) {
		case ISIM_SMMU_OP_TLBI_NH_ALL:
		case ISIM_SMMU_OP_TLBI_NH_ASID:
		case ISIM_SMMU_OP_TLBI_NH_VA:
		case ISIM_SMMU_OP_TLBI_NH_VAA:
		case ISIM_SMMU_OP_TLBI_S12_VMALL:
		case ISIM_SMMU_OP_TLBI_NSNH_ALL:
			opc = OPC_TLBI;
			break;
		case ISIM_SMMU_OP_CMD_SYNC:
			opc = OPC_SYNC;
			break;
		}
		hw->optab[0][op] = OPTAB(opc, host);
		hw->optab[1][op] = OPTAB(opc, guest);
	}
}

/*
 * CMD_SYNC: consumption is synchronous, so everything before it is done;
 * all that is left is to report an ATC_INV that timed out since the last
 * one.  0 or the CERROR to halt with.
 */
static unsigned sync_complete(struct lvcmdq *q, unsigned cs, bool strict_cs)
{
	if (cs != ISIM_SMMU_SYNC_CS_NONE && strict_cs)
		return ISIM_SMMU_CERROR_ILL;
	if (q->atc_timeout) {
		q->atc_timeout = false;
		return ISIM_SMMU_CERROR_ATC_INV_SYNC;
	}
	return 0;
}

/*
 * Carry out one fetched command the general way: decode it whole, vet it,
 * act on it.  @config is the VINTF's CONFIG, which cannot change while
 * the VINTF lock is held.  Returns 0 when the command took effect (@cmd
 * then holds it as executed, VMID and SID replaced), EXEC_DROPPED when it
 * is consumed without effect, or the CERROR code to halt with.
 */
static unsigned execute(struct isim_cmdqv_vintf *v, unsigned lidx,
			const uint64_t dw[2], uint32_t config,
			struct isim_smmu_cmd *cmd)
{
	struct isim_cmdqv *hw = v->hw;
	const struct isim_cmdqv_config *cfg = &hw->cfg;
	struct lvcmdq *q = &v->q[lidx];
	bool guest = !(config & ISIM_CMDQV_VINTF_HYP_OWN);
	unsigned code;

	if (isim_smmu_cmd_decode(dw, cmd))
		return ISIM_SMMU_CERROR_ILL;
	if (cfg->strict_fields && isim_smmu_cmd_check_fields(dw))
		return ISIM_SMMU_CERROR_ILL;
	/* EL3 opcodes, and on a guest VINTF the ones it may not send. */
	code = OPTAB_CODE(hw->optab[guest][cmd->op]);
	if (code)
		return code;
	if (guest && cfg->use_vintf_vmid && cmd->op != ISIM_SMMU_OP_ATC_INV &&
	    cmd->op != ISIM_SMMU_OP_CMD_SYNC)
		cmd->vmid = ISIM_CMDQV_VINTF_VMID(config);

	switch (cmd->op) {
	case ISIM_SMMU_OP_CMD_SYNC:
		return sync_complete(q, cmd->cs, cfg->strict_cs);
	case ISIM_SMMU_OP_ATC_INV:
		if (guest && cfg->sid_replace) {
			uint32_t psid;

			if (!sid_lookup(v, cmd->sid, &psid)) {
				STAT_INC(hw, sid_misses);
				if (cfg->sid_miss_cerror)
					return cfg->sid_miss_cerror;
				return EXEC_DROPPED;	/* no device to reach */
			}
			cmd->sid = psid;
		}
		if (cmdqv_cache_atc_inv(hw->cache, cmd)) {
			q->atc_timeout = true;
			STAT_INC(hw, atc_timeouts);
		}
		return 0;
	default:
		cmdqv_cache_tlbi(hw->cache, cmd);
		return 0;
	}
}

/*
 * Counters kept in registers for a batch and added to the shared stats
 * once: executed[] is counted by runs of one opcode, except that the
 * CMD_SYNCs taken on the fast path have a count of their own, so that a
 * TLBI stream punctuated by CMD_SYNCs is one long run.
 */
struct tally {
	unsigned op;
	uint64_t run;
	uint64_t syncs;
	uint64_t fetches;
};

static void tally_flush(struct isim_cmdqv *hw, unsigned op, uint64_t run)
{
	if (run)
		__atomic_fetch_add(&hw->stats.executed[op], run,
				   __ATOMIC_RELAXED);
}

static inline void tally_exec(struct isim_cmdqv *hw, struct tally *t,
			      unsigned op)
{
	if (op != t->op) {
		tally_flush(hw, t->op, t->run);
		t->op = op;
		t->run = 0;
	}
	t->run++;
}

/*
 * Fetch the entry in slot @idx: through the pinned view with plain loads
 * when BASE lies in one, else through the memory callbacks, which fail
 * (an abort) when the memory is not there.
 */
static inline bool fetch(const struct isim_cmdqv *hw, const struct lvcmdq *q,
			 uint32_t idx, uint64_t dw[2])
{
	uint8_t ent[ISIM_SMMU_CMD_SIZE];

	if (q->ring) {
		isim_smmu_cmd_from_le(q->ring + ((size_t)idx << ISIM_SMMU_CMD_SHIFT),
				      dw);
		return true;
	}
	if (isim_hw_read(&hw->mem,
			 q->base_pa + ((uint64_t)idx << ISIM_SMMU_CMD_SHIFT),
			 ent, sizeof(ent)))
		return false;
	isim_smmu_cmd_from_le(ent, dw);
	return true;
}

/*
 * The common case as a loop with no calls: a run of entries, read from
 * the pinned view, whose whole effect follows from the opcode byte.  A
 * legal TLBI while the IOTLB holds nothing has nothing to drop (the
 * occupancy is loaded for each one, so an insert published before the
 * TLBI is never missed); a CMD_SYNC with no ATC timeout to report and an
 * acceptable CS completes at once, everything before it being done.  The
 * run stops before the first entry that needs more (any other opcode, an
 * illegal one, a TLBI with something cached, a disable), which the
 * general path then takes.  @slot is the entry at CONS and the @count
 * entries from it do not wrap.  Returns the entries carried out, counted
 * into @t.  Not inlined: on its own it keeps everything in registers.
 */
static noinline uint32_t fast_run(const uint8_t *slot, uint32_t count,
				  const uint8_t *optab, const uint32_t *en,
				  const struct cmdqv_cache *cache, bool sync_ok,
				  bool strict_cs, struct isim_cmdqv *hw,
				  struct tally *t)
{
	const uint8_t *end = slot + ((size_t)count << ISIM_SMMU_CMD_SHIFT);
	const uint8_t *p = slot;
	unsigned op = t->op;
	uint64_t run = t->run, syncs = t->syncs;
	uint32_t done;

	while (p != end) {
		uint64_t d0;
		unsigned e, cur;

		/* A disable is honoured between commands. */
		if (unlikely(!(ld32(en) & ISIM_VCMDQ_EN)))
			break;
		memcpy(&d0, p, sizeof(d0));
		d0 = le64toh(d0);
		cur = d0 & 0xff;
		e = optab[cur];
		if (likely(e == OPTAB(OPC_TLBI, 0))) {
			const uint8_t *from = p;
			bool stop = false;

			if (unlikely(!cmdqv_cache_tlb_empty(cache)))
				break;
			if (cur != op) {
				tally_flush(hw, op, run);
				op = cur;
				run = 0;
			}
			/*
			 * More of the same TLBI opcode (byte 0 of an entry,
			 * which is little-endian): legal and counted alike,
			 * so only a disable or something entering the IOTLB
			 * can stop them.  The hints keep this on a straight
			 * path with one taken branch per entry.
			 */
			for (p += ISIM_SMMU_CMD_SIZE; p != end && *p == cur;
			     p += ISIM_SMMU_CMD_SIZE) {
				if (unlikely(!(ld32(en) & ISIM_VCMDQ_EN)) ||
				    unlikely(!cmdqv_cache_tlb_empty(cache))) {
					stop = true;
					break;
				}
			}
			run += (size_t)(p - from) >> ISIM_SMMU_CMD_SHIFT;
			if (stop)
				break;
			continue;
		}
		if (e != OPTAB(OPC_SYNC, 0) || !sync_ok ||
		    (strict_cs && SYNC_CS(d0) != ISIM_SMMU_SYNC_CS_NONE))
			break;
		syncs++;
		p += ISIM_SMMU_CMD_SIZE;
	}
	done = (size_t)(p - slot) >> ISIM_SMMU_CMD_SHIFT;
	t->op = op;
	t->run = run;
	t->syncs = syncs;
	t->fetches += done;
	return done;
}

/*
 * Consume up to @budget entries of queue @lidx, all from one sample of
 * PROD (the spec's consume step, §6.4).  Every entry is fetched, vetted
 * and carried out in order; CONS is published when the batch ends (after
 * each command when an exec hook watches), so it never passes a command
 * before that command took effect.  A failing entry halts the queue with
 * CONS.RD at that entry; a disable is seen between two commands.  Returns
 * the work done: entries taken, plus one for an error or a transition.
 */
static unsigned consume(struct isim_cmdqv_vintf *v, unsigned lidx,
			unsigned budget)
{
	struct isim_cmdqv *hw = v->hw;
	struct lvcmdq *q = &v->q[lidx];
	const uint32_t *en = q_reg(v, lidx, ISIM_VCMDQ_CONFIG);
	const uint32_t config = ld32(&v->config);
	const uint8_t *optab = hw->optab[!(config & ISIM_CMDQV_VINTF_HYP_OWN)];
	/* The hook wants CONS per command; strict fields need full decode. */
	const bool observed = hw->exec != NULL;
	const bool lean = !observed && !hw->cfg.strict_fields;
	const bool strict_cs = hw->cfg.strict_cs;
	struct tally t = { 0 };
	uint32_t n, mask, prod, cons, batch, done;
	unsigned code = 0;
	bool stopped = false;

	if (!q->status_en || !q_mapped(v, lidx) ||
	    ((q->gerror ^ q->gerrorn) & ISIM_VCMDQ_GERROR_CMDQ_ERR))
		return 0;
	/* A disable is honoured between commands, never inside one. */
	if (!(ld32(en) & ISIM_VCMDQ_EN))
		return cmdqv_hw_lvcmdq_control(v, lidx);

	n = 1u << q->log2size;
	mask = 2 * n - 1;
	/* Bit 31 and anything above the wrap bit are not pointer bits. */
	prod = ld32(q_reg(v, lidx, ISIM_VCMDQ_PROD)) & mask;
	cons = q->cons & mask;
	batch = (prod - cons) & mask;
	if (!batch)
		return 0;
	if (batch > n) {
		/* More than a ring's worth pending: the producer is broken;
		 * wait for a sane PROD and count each bad value once. */
		if (q->bad_prod != prod + 1) {
			q->bad_prod = prod + 1;
			STAT_INC(hw, bad_prod);
		}
		return 0;
	}
	q->bad_prod = 0;
	if (batch > budget)
		batch = budget;

	done = 0;
	while (done < batch) {
		struct isim_smmu_cmd cmd;
		uint64_t dw[2];
		unsigned e;

		if (lean && q->ring) {
			uint32_t idx = cons & (n - 1);
			uint32_t k, span = batch - done;

			/* Up to the end of the ring, then from its start. */
			if (span > n - idx)
				span = n - idx;
			k = fast_run(q->ring + ((size_t)idx << ISIM_SMMU_CMD_SHIFT),
				     span, optab, en, hw->cache,
				     !q->atc_timeout, strict_cs, hw, &t);
			done += k;
			cons = (cons + k) & mask;
			if (done == batch)
				break;
			if (k == span && span == n - idx)
				continue;
		}
		/* One entry the general way. */
		if (!(ld32(en) & ISIM_VCMDQ_EN)) {
			stopped = true;
			break;
		}
		t.fetches++;
		if (!fetch(hw, q, cons & (n - 1), dw)) {
			code = ISIM_SMMU_CERROR_ABT;
			break;
		}
		e = optab[dw[0] & 0xff];
		if (lean && OPTAB_CODE(e)) {
			code = OPTAB_CODE(e);
			break;
		} else if (lean && OPTAB_CLASS(e) == OPC_TLBI &&
			   cmdqv_cache_tlb_empty(hw->cache)) {
			/* Nothing is cached that it could drop: done. */
			tally_exec(hw, &t, dw[0] & 0xff);
		} else if (lean && OPTAB_CLASS(e) == OPC_SYNC) {
			code = sync_complete(q, SYNC_CS(dw[0]), strict_cs);
			if (code)
				break;
			t.syncs++;
		} else {
			code = execute(v, lidx, dw, config, &cmd);
			if (code && code != EXEC_DROPPED)
				break;
			if (!code) {
				tally_exec(hw, &t, cmd.op);
				if (observed)
					hw->exec(hw->exec_arg, v->id, lidx, &cmd);
			}
			code = 0;
		}
		done++;
		cons = (cons + 1) & mask;
		if (observed) {
			q->cons = (q->cons & ISIM_VCMDQ_CONS_ERR_MASK) | cons;
			cmdqv_hw_publish_cons(v, lidx);
		}
	}

	tally_flush(hw, t.op, t.run);
	tally_flush(hw, ISIM_SMMU_OP_CMD_SYNC, t.syncs);
	__atomic_fetch_add(&hw->stats.fetches, t.fetches, __ATOMIC_RELAXED);
	if (done && !observed) {
		q->cons = (q->cons & ISIM_VCMDQ_CONS_ERR_MASK) | cons;
		cmdqv_hw_publish_cons(v, lidx);
	}
	if (code) {
		/* RD is still the culprit's: only what precedes it is done. */
		cmdqv_hw_raise_cmdq_err(v, lidx, code);
		return done + 1;
	}
	if (stopped)
		return done + cmdqv_hw_lvcmdq_control(v, lidx);
	return done;
}

static void deliver_report(struct isim_cmdqv_vintf *v)
{
	struct isim_cmdqv *hw = v->hw;
	uint64_t map[2] = { ld64(&v->err_map[0]), ld64(&v->err_map[1]) };
	bool masked = ld64(&hw->int_mask) & (1ull << v->id);

	if (masked || !hw->report) {
		STAT_INC(hw, reports_suppressed);
		return;
	}
	STAT_INC(hw, reports);
	hw->report(hw->report_arg, v->id, map);
}

unsigned isim_cmdqv_vintf_step(struct isim_cmdqv_vintf *v, unsigned budget)
{
	const unsigned per = v->hw->per_vintf;
	unsigned work = 0, round, busy = per;
	bool report;

	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < per; i++)
		work += cmdqv_hw_lvcmdq_control(v, i);
	/*
	 * Round-robin so that one busy queue cannot starve its siblings: each
	 * round offers every queue an equal share of what is left of the
	 * budget, split among the queues that had work in the round before
	 * (at first all of them); at least one command, which is a strict
	 * alternation when the budget is small.
	 */
	do {
		unsigned share = budget >= busy ? budget / busy : 1;

		round = 0;
		busy = 0;
		for (unsigned i = 0; i < per && budget; i++) {
			unsigned w = consume(v, i, share < budget ? share : budget);

			busy += w != 0;
			round += w;
			budget -= w;
		}
		work += round;
	} while (round && budget);
	cmdqv_hw_publish_maps(v);
	report = v->report_pending;
	v->report_pending = false;
	pthread_mutex_unlock(&v->lock);
	/* Outside the lock: the driver's handler may read the model back. */
	if (report)
		deliver_report(v);
	return work;
}

unsigned isim_cmdqv_step(struct isim_cmdqv *hw, unsigned budget)
{
	unsigned work = 0;

	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++)
		work += isim_cmdqv_vintf_step(&hw->vintfs[i], budget);
	return work;
}

/*
 * The polling thread's pacing.  A step takes at most THREAD_BUDGET
 * commands, which bounds how long a host operation waits for the VINTF
 * lock; a step that found work is followed at once by the next.  An idle
 * thread yields, and after a long idle sleeps, so a quiet model costs
 * little.  It does not spin: measured on the two-CPU machine the
 * benchmarks run on, a consumer that re-polls PROD in a pause loop keeps
 * pulling page0's cache line back while the guest is filling the ring and
 * costs the producer more than the sched_yield round trip costs the
 * consumer (which, besides, lets several doorbells gather into one
 * batch, one CONS store for all of them).
 */
#define THREAD_BUDGET	1024u
#define THREAD_YIELDS	256u

static void *vintf_thread(void *arg)
{
	struct isim_cmdqv_vintf *v = arg;
	unsigned idle = 0;

	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
		if (isim_cmdqv_vintf_step(v, THREAD_BUDGET)) {
			idle = 0;
		} else if (++idle < THREAD_YIELDS) {
			sched_yield();
		} else {
			/* Long idle: back off so a quiet model costs little. */
			struct timespec ts = { 0, 20000 };

			idle = THREAD_YIELDS;
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int isim_cmdqv_vintf_start(struct isim_cmdqv_vintf *v)
{
	if (v->running)
		return -EBUSY;
	__atomic_store_n(&v->stop, 0, __ATOMIC_RELEASE);
	if (isim_should_fail() || pthread_create(&v->thread, NULL, vintf_thread, v))
		return -EAGAIN;
	v->running = true;
	return 0;
}

void isim_cmdqv_vintf_stop(struct isim_cmdqv_vintf *v)
{
	if (!v->running)
		return;
	__atomic_store_n(&v->stop, 1, __ATOMIC_RELEASE);
	pthread_join(v->thread, NULL);
	v->running = false;
}
