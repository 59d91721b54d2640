//! Pagination of public listings: `page` from 1, `per_page` from 1 to 100 (default 20).

use super::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    number: u32,
    size: u32,
}

impl Page {
    pub const DEFAULT_SIZE: u32 = 20;
    pub const MAX_SIZE: u32 = 100;

    pub fn parse(page: Option<i64>, per_page: Option<i64>) -> Result<Self, Invalid> {
        let number = page.unwrap_or(1);
        let size = per_page.unwrap_or(i64::from(Self::DEFAULT_SIZE));
        if number < 1 || number > i64::from(u32::MAX) {
            return Err(Invalid("page must be a whole number from 1".into()));
        }
        if !(1..=i64::from(Self::MAX_SIZE)).contains(&size) {
            return Err(Invalid(format!(
                "per_page must be from 1 to {}",
                Self::MAX_SIZE
            )));
        }
        Ok(Self {
            number: number as u32,
            size: size as u32,
        })
    }

    pub fn limit(self) -> i64 {
        i64::from(self.size)
    }

    pub fn offset(self) -> i64 {
        i64::from(self.number - 1) * i64::from(self.size)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            number: 1,
            size: Self::DEFAULT_SIZE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_and_bounds() {
        let page = Page::parse(None, None).unwrap();
        assert_eq!((page.limit(), page.offset()), (20, 0));
        assert_eq!(Page::parse(Some(3), Some(10)).unwrap().offset(), 20);
        assert!(Page::parse(Some(0), None).is_err());
        assert!(Page::parse(None, Some(101)).is_err());
        assert!(Page::parse(None, Some(0)).is_err());
    }

    proptest! {
        #[test]
        fn consecutive_pages_tile_without_gaps(n in 1i64..1000, size in 1i64..=100) {
            let this = Page::parse(Some(n), Some(size)).unwrap();
            let next = Page::parse(Some(n + 1), Some(size)).unwrap();
            prop_assert_eq!(this.offset() + this.limit(), next.offset());
        }
    }
}
