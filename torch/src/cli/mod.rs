//! Model commands, reached as `genolm <command>` (the front binary hands them over) or directly.

pub mod classify;
pub mod cnn;
pub mod info;
pub mod interpret;
pub mod lm;
pub mod predict;
pub mod run;
pub mod scan;
pub mod variants;
