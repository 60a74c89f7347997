/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/* Test-only shim over Debian's libipt 2.0.5 (libipt-dev): converts between
 * libipt's `struct pt_packet` (a union with bitfields) and a flat struct of
 * plain integers that Rust can share without bitfield layout rules, and runs
 * libipt's encoder and packet decoder over whole streams. Also the C loops the
 * criterion bench times, so that no per-packet FFI call is charged to libipt. */
#include <intel-pt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One packet as plain integers; see src/lib.rs for the per-type meaning. */
struct flat {
	uint32_t type;
	uint32_t size;
	uint64_t a, b, c;
};

static int to_pt(const struct flat *f, struct pt_packet *p)
{
	memset(p, 0, sizeof(*p));
	p->type = (enum pt_packet_type) f->type;
	switch (p->type) {
	case ppt_tnt_8:
	case ppt_tnt_64:
		p->payload.tnt.bit_size = (uint8_t) f->a;
		p->payload.tnt.payload = f->b;
		break;
	case ppt_fup:
	case ppt_tip:
	case ppt_tip_pge:
	case ppt_tip_pgd:
		p->payload.ip.ipc = (enum pt_ip_compression) f->a;
		p->payload.ip.ip = f->b;
		break;
	case ppt_mode:
		p->payload.mode.leaf = (enum pt_mode_leaf) f->a;
		if (f->a == pt_mol_exec) {
			p->payload.mode.bits.exec.csl = f->b & 1;
			p->payload.mode.bits.exec.csd = (f->b >> 1) & 1;
		} else {
			p->payload.mode.bits.tsx.intx = f->b & 1;
			p->payload.mode.bits.tsx.abrt = (f->b >> 1) & 1;
		}
		break;
	case ppt_pip:
		p->payload.pip.cr3 = f->a;
		p->payload.pip.nr = f->b & 1;
		break;
	case ppt_tsc: p->payload.tsc.tsc = f->a; break;
	case ppt_cbr: p->payload.cbr.ratio = (uint8_t) f->a; break;
	case ppt_tma:
		p->payload.tma.ctc = (uint16_t) f->a;
		p->payload.tma.fc = (uint16_t) f->b;
		break;
	case ppt_mtc: p->payload.mtc.ctc = (uint8_t) f->a; break;
	case ppt_cyc: p->payload.cyc.value = f->a; break;
	case ppt_vmcs: p->payload.vmcs.base = f->a; break;
	case ppt_mnt: p->payload.mnt.payload = f->a; break;
	case ppt_exstop: p->payload.exstop.ip = f->a & 1; break;
	case ppt_mwait:
		p->payload.mwait.hints = (uint32_t) f->a;
		p->payload.mwait.ext = (uint32_t) f->b;
		break;
	case ppt_pwre:
		p->payload.pwre.state = (uint8_t) f->a;
		p->payload.pwre.sub_state = (uint8_t) f->b;
		p->payload.pwre.hw = f->c & 1;
		break;
	case ppt_pwrx:
		p->payload.pwrx.last = (uint8_t) f->a;
		p->payload.pwrx.deepest = (uint8_t) f->b;
		p->payload.pwrx.interrupt = f->c & 1;
		p->payload.pwrx.store = (f->c >> 1) & 1;
		p->payload.pwrx.autonomous = (f->c >> 2) & 1;
		break;
	case ppt_ptw:
		p->payload.ptw.payload = f->a;
		p->payload.ptw.plc = (uint8_t) f->b;
		p->payload.ptw.ip = f->c & 1;
		break;
	case ppt_pad:
	case ppt_psb:
	case ppt_psbend:
	case ppt_stop:
	case ppt_ovf:
		break;
	default:
		return -pte_invalid;
	}
	return 0;
}

static void from_pt(const struct pt_packet *p, struct flat *f)
{
	memset(f, 0, sizeof(*f));
	f->type = p->type;
	f->size = p->size;
	switch (p->type) {
	case ppt_tnt_8:
	case ppt_tnt_64:
		f->a = p->payload.tnt.bit_size;
		f->b = p->payload.tnt.payload;
		break;
	case ppt_fup:
	case ppt_tip:
	case ppt_tip_pge:
	case ppt_tip_pgd:
		f->a = p->payload.ip.ipc;
		f->b = p->payload.ip.ip;
		break;
	case ppt_mode:
		f->a = p->payload.mode.leaf;
		if (p->payload.mode.leaf == pt_mol_exec)
			f->b = p->payload.mode.bits.exec.csl |
			       (p->payload.mode.bits.exec.csd << 1);
		else
			f->b = p->payload.mode.bits.tsx.intx |
			       (p->payload.mode.bits.tsx.abrt << 1);
		break;
	case ppt_pip:
		f->a = p->payload.pip.cr3;
		f->b = p->payload.pip.nr;
		break;
	case ppt_tsc: f->a = p->payload.tsc.tsc; break;
	case ppt_cbr: f->a = p->payload.cbr.ratio; break;
	case ppt_tma:
		f->a = p->payload.tma.ctc;
		f->b = p->payload.tma.fc;
		break;
	case ppt_mtc: f->a = p->payload.mtc.ctc; break;
	case ppt_cyc: f->a = p->payload.cyc.value; break;
	case ppt_vmcs: f->a = p->payload.vmcs.base; break;
	case ppt_mnt: f->a = p->payload.mnt.payload; break;
	case ppt_exstop: f->a = p->payload.exstop.ip; break;
	case ppt_mwait:
		f->a = p->payload.mwait.hints;
		f->b = p->payload.mwait.ext;
		break;
	case ppt_pwre:
		f->a = p->payload.pwre.state;
		f->b = p->payload.pwre.sub_state;
		f->c = p->payload.pwre.hw;
		break;
	case ppt_pwrx:
		f->a = p->payload.pwrx.last;
		f->b = p->payload.pwrx.deepest;
		f->c = p->payload.pwrx.interrupt |
		       (p->payload.pwrx.store << 1) |
		       (p->payload.pwrx.autonomous << 2);
		break;
	case ppt_ptw:
		f->a = p->payload.ptw.payload;
		f->b = p->payload.ptw.plc;
		f->c = p->payload.ptw.ip;
		break;
	default:
		break;
	}
}

/* Encodes `n` packets into `buf`. Returns the bytes written, or a negative
 * libipt error code with the failing packet's index in `*failed`. */
long ipt_shim_encode(const struct flat *pkts, size_t n, uint8_t *buf,
		     size_t cap, size_t *failed)
{
	struct pt_config config;
	struct pt_encoder *enc;
	uint64_t offset = 0;
	size_t i;
	int ret = 0;

	pt_config_init(&config);
	config.begin = buf;
	config.end = buf + cap;
	enc = pt_alloc_encoder(&config);
	if (!enc)
		return -pte_nomem;
	for (i = 0; i < n; i++) {
		struct pt_packet p;

		ret = to_pt(&pkts[i], &p);
		if (ret >= 0)
			ret = pt_enc_next(enc, &p);
		if (ret < 0) {
			*failed = i;
			break;
		}
	}
	if (ret >= 0) {
		ret = pt_enc_get_offset(enc, &offset);
		if (ret >= 0)
			ret = (int) offset;
	}
	pt_free_encoder(enc);
	return ret;
}

/* A packet decoder over `len` bytes at `buf`, not yet synchronised. */
static struct pt_packet_decoder *decoder_over(const uint8_t *buf, size_t len)
{
	struct pt_config config;

	pt_config_init(&config);
	config.begin = (uint8_t *) buf;
	config.end = (uint8_t *) buf + len;
	return pt_pkt_alloc_decoder(&config);
}

/* Decodes `buf` from offset 0 (or from the first PSB if `sync`) into at most
 * `cap` flat packets with their offsets; `*count` gets the number decoded.
 * Returns 0 when decoding ended cleanly at the end of `buf`, else the negative
 * libipt error code with the failing offset in `*err_offset` (UINT64_MAX when
 * synchronisation itself failed). */
long ipt_shim_decode(const uint8_t *buf, size_t len, int sync,
		     struct flat *out, uint64_t *offsets, size_t cap,
		     size_t *count, uint64_t *err_offset)
{
	struct pt_packet_decoder *dec;
	int ret;

	*count = 0;
	*err_offset = UINT64_MAX;
	dec = decoder_over(buf, len);
	if (!dec)
		return -pte_nomem;
	ret = sync ? pt_pkt_sync_forward(dec) : pt_pkt_sync_set(dec, 0);
	if (ret < 0) {
		pt_pkt_free_decoder(dec);
		return ret;
	}
	while (*count < cap) {
		struct pt_packet p;
		uint64_t off = 0;

		pt_pkt_get_offset(dec, &off);
		ret = pt_pkt_next(dec, &p, sizeof(p));
		if (ret < 0) {
			*err_offset = off;
			break;
		}
		from_pt(&p, &out[*count]);
		offsets[*count] = off;
		*count += 1;
	}
	pt_pkt_free_decoder(dec);
	if (ret >= 0 || (ret == -pte_eos && *err_offset == len))
		return 0;
	return ret;
}

/* What happened while decoding with resynchronisation; see src/lib.rs. */
struct event {
	uint32_t what; /* 0 sync, 1 packet, 2 packet error, 3 sync failed */
	int32_t code;  /* negative libipt error code (2, 3) */
	uint64_t offset;
	struct flat pkt;
};

static int push(struct event *out, size_t cap, size_t *count, uint32_t what,
		int code, uint64_t offset, const struct pt_packet *p)
{
	struct event *e;

	if (*count >= cap)
		return -1;
	e = &out[*count];
	memset(e, 0, sizeof(*e));
	e->what = what;
	e->code = code;
	e->offset = offset;
	if (p)
		from_pt(p, &e->pkt);
	*count += 1;
	return 0;
}

/* Decodes `buf` as a trace reader does after errors: synchronise forward
 * (pt_pkt_sync_forward; first at offset `start` with pt_pkt_sync_set when
 * `start` is not UINT64_MAX), decode packets until an error, synchronise
 * forward again from there, until synchronisation fails. Records every step
 * in `out` (at most `cap`); returns 0, or -1 if `out` was too small. */
long ipt_shim_resync(const uint8_t *buf, size_t len, uint64_t start,
		     struct event *out, size_t cap, size_t *count)
{
	struct pt_packet_decoder *dec;
	int ret;

	*count = 0;
	dec = decoder_over(buf, len);
	if (!dec)
		return -pte_nomem;
	ret = start != UINT64_MAX ? pt_pkt_sync_set(dec, start)
				  : pt_pkt_sync_forward(dec);
	for (;;) {
		uint64_t off = 0;

		if (ret < 0) {
			ret = push(out, cap, count, 3, ret, 0, NULL);
			break;
		}
		pt_pkt_get_offset(dec, &off);
		ret = push(out, cap, count, 0, 0, off, NULL);
		if (ret < 0)
			break;
		for (;;) {
			struct pt_packet p;

			pt_pkt_get_offset(dec, &off);
			ret = pt_pkt_next(dec, &p, sizeof(p));
			if (ret < 0) {
				ret = push(out, cap, count, 2, ret, off, NULL);
				break;
			}
			if (push(out, cap, count, 1, 0, off, &p) < 0) {
				ret = -1;
				break;
			}
		}
		if (ret < 0)
			break;
		ret = pt_pkt_sync_forward(dec);
	}
	pt_pkt_free_decoder(dec);
	return ret < 0 ? -1 : 0;
}

/* The bench's libipt side: a prepared packet array, an encoder over an output
 * buffer and a packet decoder over a stream, so that the timed loops are
 * libipt's alone. */
struct ipt_bench {
	struct pt_packet *pkts;
	size_t n;
	struct pt_encoder *enc;
	struct pt_packet_decoder *dec;
};

struct ipt_bench *ipt_bench_new(const struct flat *pkts, size_t n,
				uint8_t *out, size_t cap,
				const uint8_t *stream, size_t len)
{
	struct ipt_bench *b = calloc(1, sizeof(*b));
	struct pt_config config;
	size_t i;

	if (!b)
		return NULL;
	b->pkts = calloc(n ? n : 1, sizeof(*b->pkts));
	if (!b->pkts) {
		free(b);
		return NULL;
	}
	b->n = n;
	for (i = 0; i < n; i++)
		to_pt(&pkts[i], &b->pkts[i]);
	pt_config_init(&config);
	config.begin = out;
	config.end = out + cap;
	b->enc = pt_alloc_encoder(&config);
	b->dec = decoder_over(stream, len);
	if (!b->enc || !b->dec) {
		pt_free_encoder(b->enc);
		pt_pkt_free_decoder(b->dec);
		free(b->pkts);
		free(b);
		return NULL;
	}
	return b;
}

void ipt_bench_free(struct ipt_bench *b)
{
	if (!b)
		return;
	pt_free_encoder(b->enc);
	pt_pkt_free_decoder(b->dec);
	free(b->pkts);
	free(b);
}

/* Encodes all packets from the output buffer's start; returns the bytes
 * written or an error. */
long ipt_bench_encode(struct ipt_bench *b)
{
	uint64_t offset = 0;
	size_t i;
	int ret = pt_enc_sync_set(b->enc, 0);

	for (i = 0; ret >= 0 && i < b->n; i++)
		ret = pt_enc_next(b->enc, &b->pkts[i]);
	if (ret < 0)
		return ret;
	pt_enc_get_offset(b->enc, &offset);
	return (long) offset;
}

/* Decodes the whole stream; returns the packet count, or an error other than
 * the end of the stream. */
long ipt_bench_decode(struct ipt_bench *b)
{
	struct pt_packet p;
	long count = 0;
	int ret = pt_pkt_sync_set(b->dec, 0);

	while (ret >= 0) {
		ret = pt_pkt_next(b->dec, &p, sizeof(p));
		if (ret >= 0)
			count++;
	}
	return ret != -pte_eos ? ret : count;
}

/* The header's packet type numbers in `enum pt_packet_type` order, then the
 * header version; src/lib.rs asserts its constants against these. */
static const uint64_t constants[] = {
	ppt_invalid, ppt_unknown, ppt_pad, ppt_psb, ppt_psbend, ppt_fup,
	ppt_tip, ppt_tip_pge, ppt_tip_pgd, ppt_tnt_8, ppt_tnt_64, ppt_mode,
	ppt_pip, ppt_vmcs, ppt_cbr, ppt_tsc, ppt_tma, ppt_mtc, ppt_cyc,
	ppt_stop, ppt_ovf, ppt_mnt, ppt_exstop, ppt_mwait, ppt_pwre, ppt_pwrx,
	ppt_ptw, pt_mol_exec, pt_mol_tsx, pte_eos, pte_bad_opc, pte_bad_packet,
	LIBIPT_VERSION_MAJOR, LIBIPT_VERSION_MINOR, LIBIPT_VERSION_PATCH,
};

const uint64_t *ipt_shim_constants(size_t *n)
{
	*n = sizeof(constants) / sizeof(constants[0]);
	return constants;
}

/* The library's own version (not the header's). */
void ipt_shim_library_version(uint64_t out[3])
{
	struct pt_version v = pt_library_version();

	out[0] = v.major;
	out[1] = v.minor;
	out[2] = v.patch;
}
