// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A tiny assembler for the 16-bit real-mode guest programs the examples run.
//!
//! Only the handful of instructions the examples need, each with its encoding from the
//! Intel SDM vol. 2 opcode tables. 32-bit operands in real mode take the operand-size
//! prefix `0x66`; memory operands use the `moffs16` forms, so they address `DS:disp16`
//! and the VMM picks where `DS` points.

/// Operand-size override prefix (SDM vol. 2A §2.1.1): 32-bit operands in 16-bit code.
const OPSIZE: u8 = 0x66;

/// Address-size override prefix (SDM vol. 2A §2.1.1): 32-bit addressing in 16-bit code.
const ADDRSIZE: u8 = 0x67;

/// The general-purpose registers the builder names, by their ModRM/opcode register number
/// (SDM vol. 2A, Table 2-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reg {
    /// EAX.
    Eax = 0,
    /// ECX.
    Ecx = 1,
    /// EDX.
    Edx = 2,
    /// EBX.
    Ebx = 3,
    /// ESI.
    Esi = 6,
}

/// A position in the program that a later jump can go back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

impl Label {
    /// The byte offset from the start of the program.
    pub fn offset(self) -> usize {
        self.0
    }
}

/// Errors from building a program.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum AsmError {
    /// A short jump's target is more than 128 bytes back.
    #[error("jump from offset {from:#x} to {to:#x} does not fit in rel8")]
    JumpTooFar {
        /// Offset just past the jump instruction.
        from: usize,
        /// Offset of the label.
        to: usize,
    },
}

/// Builds a real-mode program into bytes.
#[derive(Debug, Default, Clone)]
pub struct Program {
    bytes: Vec<u8>,
}

impl Program {
    /// An empty program.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The current offset, as a jump target.
    pub fn label(&self) -> Label {
        Label(self.bytes.len())
    }

    /// `mov r32, imm32` (`66 B8+r id`).
    pub fn mov_imm32(&mut self, reg: Reg, imm: u32) -> &mut Self {
        self.bytes.extend_from_slice(&[OPSIZE, 0xB8 + reg as u8]);
        self.bytes.extend_from_slice(&imm.to_le_bytes());
        self
    }

    /// `mov dx, imm16` (`BA iw`), the port number for `in`/`out`.
    pub fn mov_dx(&mut self, port: u16) -> &mut Self {
        self.bytes.push(0xBA);
        self.bytes.extend_from_slice(&port.to_le_bytes());
        self
    }

    /// `mov dst, src` for 32-bit registers (`66 89 /r`, ModRM mod=11).
    pub fn mov(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.bytes
            .extend_from_slice(&[OPSIZE, 0x89, 0xC0 | (src as u8) << 3 | dst as u8]);
        self
    }

    /// `rdmsr` (`0F 32`): EDX:EAX = MSR\[ECX\].
    pub fn rdmsr(&mut self) -> &mut Self {
        self.bytes.extend_from_slice(&[0x0F, 0x32]);
        self
    }

    /// `out dx, eax` (`66 EF`).
    pub fn out_dx_eax(&mut self) -> &mut Self {
        self.bytes.extend_from_slice(&[OPSIZE, 0xEF]);
        self
    }

    /// `in eax, dx` (`66 ED`).
    pub fn in_eax_dx(&mut self) -> &mut Self {
        self.bytes.extend_from_slice(&[OPSIZE, 0xED]);
        self
    }

    /// `mov [ds:disp16], eax` (`66 A3 moffs16`).
    pub fn store_eax(&mut self, disp: u16) -> &mut Self {
        self.bytes.extend_from_slice(&[OPSIZE, 0xA3]);
        self.bytes.extend_from_slice(&disp.to_le_bytes());
        self
    }

    /// `mov eax, [ds:disp16]` (`66 A1 moffs16`).
    pub fn load_eax(&mut self, disp: u16) -> &mut Self {
        self.bytes.extend_from_slice(&[OPSIZE, 0xA1]);
        self.bytes.extend_from_slice(&disp.to_le_bytes());
        self
    }

    /// `mov [ds:esi], eax` (`66 67 89 /r`, ModRM 0x06: `[esi]` with 32-bit addressing).
    pub fn store_eax_at_esi(&mut self) -> &mut Self {
        self.bytes
            .extend_from_slice(&[OPSIZE, ADDRSIZE, 0x89, 0x06]);
        self
    }

    /// `add r32, imm8` (`66 83 /0 ib`, sign-extended).
    pub fn add_imm8(&mut self, reg: Reg, imm: i8) -> &mut Self {
        self.bytes
            .extend_from_slice(&[OPSIZE, 0x83, 0xC0 | reg as u8, imm.to_le_bytes()[0]]);
        self
    }

    /// `xor eax, imm32` (`66 35 id`).
    pub fn xor_eax_imm32(&mut self, imm: u32) -> &mut Self {
        self.bytes.extend_from_slice(&[OPSIZE, 0x35]);
        self.bytes.extend_from_slice(&imm.to_le_bytes());
        self
    }

    /// `dec r32` (`66 48+r`; the one-byte form is valid outside 64-bit mode).
    pub fn dec(&mut self, reg: Reg) -> &mut Self {
        self.bytes.extend_from_slice(&[OPSIZE, 0x48 + reg as u8]);
        self
    }

    /// `jnz rel8` (`75 cb`) back to `target`.
    pub fn jnz(&mut self, target: Label) -> Result<&mut Self, AsmError> {
        let from = self.bytes.len() + 2;
        let back = from - target.0;
        let rel = i8::try_from(
            -i64::try_from(back).map_err(|_| AsmError::JumpTooFar { from, to: target.0 })?,
        )
        .map_err(|_| AsmError::JumpTooFar { from, to: target.0 })?;
        self.bytes.extend_from_slice(&[0x75, rel.to_le_bytes()[0]]);
        Ok(self)
    }

    /// `hlt` (`F4`).
    pub fn hlt(&mut self) -> &mut Self {
        self.bytes.push(0xF4);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_sdm() {
        let mut p = Program::new();
        p.mov_imm32(Reg::Ecx, 0x802)
            .rdmsr()
            .mov(Reg::Ebx, Reg::Eax)
            .mov_dx(0x10)
            .out_dx_eax()
            .in_eax_dx()
            .store_eax(4)
            .load_eax(8)
            .dec(Reg::Esi)
            .store_eax_at_esi()
            .add_imm8(Reg::Esi, 4)
            .xor_eax_imm32(0x1234_5678)
            .mov(Reg::Eax, Reg::Esi)
            .hlt();
        assert_eq!(
            p.bytes(),
            [
                0x66, 0xB9, 0x02, 0x08, 0x00, 0x00, // mov ecx, 0x802
                0x0F, 0x32, // rdmsr
                0x66, 0x89, 0xC3, // mov ebx, eax
                0xBA, 0x10, 0x00, // mov dx, 0x10
                0x66, 0xEF, // out dx, eax
                0x66, 0xED, // in eax, dx
                0x66, 0xA3, 0x04, 0x00, // mov [4], eax
                0x66, 0xA1, 0x08, 0x00, // mov eax, [8]
                0x66, 0x4E, // dec esi
                0x66, 0x67, 0x89, 0x06, // mov [esi], eax
                0x66, 0x83, 0xC6, 0x04, // add esi, 4
                0x66, 0x35, 0x78, 0x56, 0x34, 0x12, // xor eax, 0x12345678
                0x66, 0x89, 0xF0, // mov eax, esi
                0xF4, // hlt
            ]
        );
    }

    #[test]
    fn jnz_goes_back_and_rejects_far_targets() {
        let mut p = Program::new();
        let top = p.label();
        p.dec(Reg::Esi);
        p.jnz(top).unwrap();
        assert_eq!(p.bytes(), [0x66, 0x4E, 0x75, 0xFC]);
        let mut far = Program::new();
        let top = far.label();
        for _ in 0..70 {
            far.dec(Reg::Eax);
        }
        assert!(matches!(far.jnz(top), Err(AsmError::JumpTooFar { .. })));
    }
}
