// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Opcode bytes, masks and sizes of the packet encodings.
//!
//! Source: Intel SDM vol. 3C, chapter "Intel Processor Trace", section "Packet
//! Descriptions" (one figure per packet), cross-checked with libipt
//! `libipt/internal/include/pt_opcodes.h` and Linux
//! `tools/perf/util/intel-pt-decoder/intel-pt-pkt-decoder.c`.

/// PAD: the single byte `0x00` (SDM "PAD Packet").
pub const PAD: u8 = 0x00;
/// The escape byte of every two-byte opcode (SDM: the packets whose first byte is `02h`).
pub const EXT: u8 = 0x02;
/// MODE header byte (SDM "MODE Packets": `1001_1001b`).
pub const MODE: u8 = 0x99;
/// TSC header byte (SDM "TSC Packet": `0001_1001b`).
pub const TSC: u8 = 0x19;
/// MTC header byte (SDM "MTC Packet": `0101_1001b`).
pub const MTC: u8 = 0x59;

/// Low five header bits of TIP (SDM "TIP Packet": `01101b`).
pub const TIP: u8 = 0x0D;
/// Low five header bits of TIP.PGE (SDM "TIP.PGE Packet": `10001b`).
pub const TIP_PGE: u8 = 0x11;
/// Low five header bits of TIP.PGD (SDM "TIP.PGD Packet": `00001b`).
pub const TIP_PGD: u8 = 0x01;
/// Low five header bits of FUP (SDM "FUP Packet": `11101b`).
pub const FUP: u8 = 0x1D;
/// Mask selecting the opcode bits of an IP-packet header (bits 4:0).
pub const IP_OPCODE_MASK: u8 = 0x1F;
/// Shift of the IPBytes field in an IP-packet header (bits 7:5).
pub const IPBYTES_SHIFT: u32 = 5;

/// CYC: header bits 1:0 are `11b` (SDM "CYC Packet").
pub const CYC: u8 = 0x03;
/// CYC: the Exp bit of the first byte (bit 2).
pub const CYC_EXP: u8 = 0x04;
/// CYC: the Exp bit of a continuation byte (bit 0).
pub const CYCX_EXP: u8 = 0x01;

/// BIP header: bits 2:0 are `100b`, bits 7:3 the ID (SDM "BIP Packet"; perf
/// `intel_pt_get_bip_4`). Only recognised between BBP and BEP.
pub const BIP: u8 = 0x04;
/// Mask of the BIP opcode bits.
pub const BIP_MASK: u8 = 0x07;

/// Second byte of PSB (SDM "PSB Packet": `02 82` repeated eight times).
pub const EXT_PSB: u8 = 0x82;
/// Second byte of PSBEND (SDM "PSBEND Packet").
pub const EXT_PSBEND: u8 = 0x23;
/// Second byte of OVF (SDM "OVF Packet").
pub const EXT_OVF: u8 = 0xF3;
/// Second byte of TraceStop (SDM "TraceStop Packet").
pub const EXT_STOP: u8 = 0x83;
/// Second byte of long TNT (SDM "Long TNT Packet").
pub const EXT_TNT64: u8 = 0xA3;
/// Second byte of PIP (SDM "PIP Packet").
pub const EXT_PIP: u8 = 0x43;
/// Second byte of CBR (SDM "CBR Packet").
pub const EXT_CBR: u8 = 0x03;
/// Second byte of TMA (SDM "TMA Packet").
pub const EXT_TMA: u8 = 0x73;
/// Second byte of VMCS (SDM "VMCS Packet").
pub const EXT_VMCS: u8 = 0xC8;
/// Second byte of the three-byte escape (SDM "MNT Packet": `02 C3 88`).
pub const EXT_EXT2: u8 = 0xC3;
/// Third byte of MNT.
pub const EXT2_MNT: u8 = 0x88;
/// Second byte of EXSTOP without IP; `0xE2` sets bit 7 (SDM "EXSTOP Packet").
pub const EXT_EXSTOP: u8 = 0x62;
/// Second byte of MWAIT (SDM "MWAIT Packet").
pub const EXT_MWAIT: u8 = 0xC2;
/// Second byte of PWRE (SDM "PWRE Packet").
pub const EXT_PWRE: u8 = 0x22;
/// Second byte of PWRX (SDM "PWRX Packet").
pub const EXT_PWRX: u8 = 0xA2;
/// Low five bits of the PTW second byte (SDM "PTW Packet": bit 7 IP, bits 6:5
/// PayloadBytes, bits 4:0 `10010b`).
pub const EXT_PTW: u8 = 0x12;
/// Second byte of BBP (SDM "Block Begin Packet (BBP)").
pub const EXT_BBP: u8 = 0x63;
/// Second byte of BEP without IP; `0xB3` sets bit 7 (SDM "Block End Packet (BEP)").
pub const EXT_BEP: u8 = 0x33;
/// Second byte of CFE (SDM "Control Flow Event (CFE) Packet").
pub const EXT_CFE: u8 = 0x13;
/// Second byte of EVD (SDM "Event Data (EVD) Packet").
pub const EXT_EVD: u8 = 0x53;

/// The IP bit in the second byte of EXSTOP, PTW and BEP and in CFE's payload byte.
pub const IP_BIT: u8 = 0x80;

/// MODE leaf field (payload bits 7:5): MODE.Exec is `000b`.
pub const MODE_LEAF_EXEC: u8 = 0x00;
/// MODE leaf field: MODE.TSX is `001b`.
pub const MODE_LEAF_TSX: u8 = 0x20;
/// MODE leaf mask.
pub const MODE_LEAF_MASK: u8 = 0xE0;
/// MODE.Exec bit 0: CS.L.
pub const MODE_EXEC_CSL: u8 = 0x01;
/// MODE.Exec bit 1: CS.D.
pub const MODE_EXEC_CSD: u8 = 0x02;
/// MODE.Exec bit 2: RFLAGS.IF (only with Event Trace; libipt >= 2.1 `iflag`).
pub const MODE_EXEC_IF: u8 = 0x04;
/// MODE.TSX bit 0: InTX.
pub const MODE_TSX_INTX: u8 = 0x01;
/// MODE.TSX bit 1: TXAbort.
pub const MODE_TSX_ABRT: u8 = 0x02;

/// PWRE payload byte 0 (packet byte 2) bit 7: HW (SDM "PWRE Packet" figure and perf's
/// `payload & 0x80`; libipt 2.0.5 reads bit 3 instead, a known divergence).
pub const PWRE_HW: u8 = 0x80;
/// PWRX wake reason bit 0: interrupt (SDM "PWRX Packet"; libipt `pt_pl_pwrx_wr_int`).
pub const PWRX_WR_INT: u8 = 0x01;
/// PWRX wake reason bit 2: store to the monitored address (libipt `pt_pl_pwrx_wr_store`).
pub const PWRX_WR_STORE: u8 = 0x04;
/// PWRX wake reason bit 3: hardware autonomous condition (libipt `pt_pl_pwrx_wr_hw`).
pub const PWRX_WR_HW: u8 = 0x08;

/// BBP payload bit 7: SZ, set when the following BIP payloads are 4 bytes.
pub const BBP_SZ: u8 = 0x80;
/// Mask of 5-bit type fields (BBP Type, CFE Type, BIP ID, libipt's EVD Type).
pub const TYPE5_MASK: u8 = 0x1F;
/// Mask of EVD's 6-bit type field as perf reads it.
pub const TYPE6_MASK: u8 = 0x3F;

/// Length of PSB (SDM "PSB Packet").
pub const PSB_LEN: usize = 16;
/// Longest packet the encoder writes (PSB).
pub const MAX_LEN: usize = 16;
/// Longest CYC packet libipt decodes (9 bytes, a 61-bit count;
/// `pt_pkt_read_cyc` rejects a 10th byte).
pub const CYC_MAX_LEN_STRICT: usize = 9;
/// Longest CYC packet perf decodes (`intel_pt_get_cyc`: `offs > 9` is bad).
pub const CYC_MAX_LEN_LENIENT: usize = 10;
