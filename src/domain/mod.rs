//! Types that parse untrusted input. Once a value has one of these types it is valid,
//! so the code behind the edge never checks again.

pub mod image;
pub mod item;
pub mod json;
pub mod paging;
pub mod refusal;
pub mod text;
pub mod timestamp;

pub use image::{Dimensions, FileName, ImageId, ImageInspector, ImageKind};
pub use item::{Description, ItemId, ItemName, NewItem, Price};
pub use paging::PageLimit;
pub use refusal::{FieldErrors, Refusal};
