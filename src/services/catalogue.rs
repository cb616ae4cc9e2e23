//! The items catalogue: create, read, page through, replace and delete items. Items are
//! parsed into [`NewItem`] by the caller (`domain::item`), so what reaches the store is
//! already valid.

use std::sync::Arc;

use crate::{
    domain::{ItemId, NewItem, PageLimit},
    store::{Item, ItemStore, StoreError},
};

/// The catalogue service over the SQL database.
#[derive(Clone)]
pub struct Catalogue {
    store: Arc<dyn ItemStore>,
}

impl Catalogue {
    /// A catalogue kept in `store`.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// Stores a new item; it comes back with its id and timestamps.
    pub async fn create(&self, item: &NewItem) -> Result<Item, StoreError> {
        self.store.create(item).await
    }

    /// One item, if it exists.
    pub async fn get(&self, id: ItemId) -> Result<Option<Item>, StoreError> {
        self.store.get(id).await
    }

    /// One page of items in ascending id order after `after`, and the cursor of the
    /// next page (`None` on the last one).
    pub async fn page(
        &self,
        after: Option<ItemId>,
        limit: PageLimit,
    ) -> Result<(Vec<Item>, Option<ItemId>), StoreError> {
        let mut items = self.store.list(after, limit.fetch()).await?;
        let next = limit.cut(&mut items, |item| item.id);
        Ok((items, next))
    }

    /// Replaces every field of an item; `None` when it does not exist.
    pub async fn replace(&self, id: ItemId, item: &NewItem) -> Result<Option<Item>, StoreError> {
        self.store.replace(id, item).await
    }

    /// Deletes an item; `false` when it did not exist.
    pub async fn delete(&self, id: ItemId) -> Result<bool, StoreError> {
        self.store.delete(id).await
    }
}
