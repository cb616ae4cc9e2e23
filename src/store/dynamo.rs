//! Image metadata on DynamoDB, through the official AWS SDK for Rust.
//!
//! # Table design
//! - Partition key `id` (S): the image id, a UUIDv7 in its canonical lower-case text.
//!   Gets, conditional puts and deletes address one item by it.
//! - Global secondary index `by_time`: partition key `feed` (S, always `images`) and
//!   sort key `id`. UUIDv7 text sorts by creation time, so a `Query` on the index with
//!   `ScanIndexForward = false` and `id < :after` is the newest-first keyset page that
//!   `GET /images` needs, with no scan. The projection is `ALL`, so a page is one query.
//!   One index partition takes about 1000 writes per second, far above what an upload
//!   service sees; a fleet that needs more would shard `feed` by month.
//! - Other attributes: `filename`, `content_type`, `sha256`, `location` (S); `size`,
//!   `width`, `height`, `created_ns` (N, nanoseconds since the epoch: exact).
//! - Object items, in the same table: `id` = `object#<sha256>`, `refs` (N, the images
//!   referencing it), `dead` (BOOL, while its deletion runs). No `feed`, so the index
//!   never lists them. An image insert is one `TransactWriteItems` with its object's
//!   `ADD refs` (condition: not dead), and marks the record `counted` (records stored
//!   before reference counting have no such mark until `pier images migrate-objects`
//!   counts them, so a delete never decrements a count that never included them). A
//!   delete decrements in the same transaction; at zero a conditional
//!   `SET dead WHERE refs = 0 AND NOT dead` elects the one caller that deletes the object.
//! - Billing: on demand (`PAY_PER_REQUEST`), no capacity to tune.
//!
//! Writes are conditional (`attribute_not_exists(id)`), so nothing is ever overwritten;
//! several records are one `TransactWriteItems`, all-or-nothing like the SQL stores.
//! Reads by id are strongly consistent; index queries are eventually consistent (a
//! fresh upload may take a moment to appear in the list on real DynamoDB).
//! The Terraform in `deploy/terraform` creates the same schema.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::{
        AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
        KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType, TableStatus,
        TransactWriteItem, Update,
    },
};
use time::OffsetDateTime;

use super::{Deleted, ImageMetaStore, ImageRecord, OBJECT_BEING_DELETED, Switched};
use crate::{config::AwsSettings, domain::ImageId, store::StoreError};

/// Name of the newest-first index.
pub const INDEX: &str = "by_time";
/// The one value of the index partition key.
const FEED: &str = "images";
/// DynamoDB's limit on items in one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// Image metadata in one DynamoDB table.
#[derive(Clone)]
pub struct DynamoMeta {
    client: Client,
    table: String,
}

impl DynamoMeta {
    /// A client for `table` from the standard AWS settings, with short timeouts and few
    /// retries so that an unreachable endpoint is noticed within seconds.
    pub async fn connect(table: &str, aws: &AwsSettings) -> Self {
        use aws_config::{BehaviorVersion, Region, retry::RetryConfig, timeout::TimeoutConfig};
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(aws.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(3))
                    .operation_timeout(Duration::from_secs(7))
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(100)),
            );
        if let Some(endpoint) = &aws.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let (Some(key), Some(secret)) = (&aws.access_key_id, &aws.secret_access_key) {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                key.clone(),
                secret.0.clone(),
                aws.session_token.as_ref().map(|t| t.0.clone()),
                None,
                "pier-settings",
            ));
        }
        let config = loader.load().await;
        Self {
            client: Client::new(&config),
            table: table.to_owned(),
        }
    }

    /// Creates the table and its index when missing (`pier migrate`) and waits until it
    /// is active; an existing table must have the expected keys and index.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(described) => {
                let table = described
                    .table
                    .ok_or_else(|| anyhow::anyhow!("DescribeTable returned no table"))?;
                let key_ok = table
                    .key_schema()
                    .iter()
                    .any(|k| k.attribute_name() == "id" && k.key_type() == &KeyType::Hash);
                let index_ok = table
                    .global_secondary_indexes()
                    .iter()
                    .any(|i| i.index_name() == Some(INDEX));
                anyhow::ensure!(
                    key_ok && index_ok,
                    "DynamoDB table `{}` exists but has not pier's schema (partition key `id`, index `{INDEX}`)",
                    self.table
                );
            }
            Err(error) if is_not_found(&error) => {
                self.create_table().await?;
                tracing::info!(table = %self.table, "created the DynamoDB table");
            }
            Err(error) => {
                return Err(anyhow::anyhow!(
                    "cannot reach DynamoDB table `{}`: {}",
                    self.table,
                    describe(&error)
                ));
            }
        }
        self.wait_until_active().await
    }

    async fn create_table(&self) -> anyhow::Result<()> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(INDEX)
            .key_schema(key("feed", KeyType::Hash)?)
            .key_schema(key("id", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("id")?)
            .attribute_definitions(attribute("feed")?)
            .key_schema(key("id", KeyType::Hash)?)
            .global_secondary_indexes(index)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another replica created it first.
            Err(error) if error.code() == Some("ResourceInUseException") => Ok(()),
            Err(error) => Err(anyhow::anyhow!(
                "cannot create DynamoDB table `{}`: {}",
                self.table,
                describe(&error)
            )),
        }
    }

    async fn wait_until_active(&self) -> anyhow::Result<()> {
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("DescribeTable failed: {}", describe(&e)))?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        anyhow::bail!(
            "DynamoDB table `{}` did not become active within 60 s",
            self.table
        )
    }

    fn item(record: &ImageRecord) -> HashMap<String, AttributeValue> {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: String| AttributeValue::N(v);
        let mut item = HashMap::from([
            ("id".to_owned(), s(&record.id.to_string())),
            ("feed".to_owned(), s(FEED)),
            ("filename".to_owned(), s(&record.filename)),
            ("content_type".to_owned(), s(&record.content_type)),
            ("size".to_owned(), n(record.size.to_string())),
            ("width".to_owned(), n(record.width.to_string())),
            ("height".to_owned(), n(record.height.to_string())),
            ("sha256".to_owned(), s(&record.sha256)),
            // Its object's reference count includes it (see the module documentation).
            ("counted".to_owned(), AttributeValue::Bool(true)),
            ("location".to_owned(), s(&record.location)),
            (
                "created_ns".to_owned(),
                n(record.created_at.unix_timestamp_nanos().to_string()),
            ),
        ]);
        if let Some(placeholder) = &record.placeholder {
            item.insert("placeholder".to_owned(), s(placeholder));
        }
        item
    }

    fn record(item: &HashMap<String, AttributeValue>) -> Result<ImageRecord, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Other(anyhow::anyhow!(
                "a DynamoDB image item has a missing or malformed `{what}`"
            ))
        };
        let text = |name: &str| -> Result<String, StoreError> {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .ok_or_else(|| corrupt(name))
        };
        fn number<T: std::str::FromStr>(
            item: &HashMap<String, AttributeValue>,
            name: &str,
        ) -> Option<T> {
            item.get(name)?.as_n().ok()?.parse().ok()
        }
        let id = ImageId::parse(&text("id")?).ok_or_else(|| corrupt("id"))?;
        let created_ns: i128 = number(item, "created_ns").ok_or_else(|| corrupt("created_ns"))?;
        Ok(ImageRecord {
            id,
            filename: text("filename")?,
            content_type: text("content_type")?,
            size: number(item, "size").ok_or_else(|| corrupt("size"))?,
            width: number(item, "width").ok_or_else(|| corrupt("width"))?,
            height: number(item, "height").ok_or_else(|| corrupt("height"))?,
            sha256: text("sha256")?,
            location: text("location")?,
            created_at: OffsetDateTime::from_unix_timestamp_nanos(created_ns)
                .map_err(|_| corrupt("created_ns"))?,
            placeholder: item.get("placeholder").and_then(|v| v.as_s().ok()).cloned(),
        })
    }

    /// Applies `update` to the item `key` when `condition` holds; `false` when it does not.
    async fn update_existing_when<const N: usize, const M: usize>(
        &self,
        key: &AttributeValue,
        update: &str,
        condition: &str,
        names: [(&str, &str); N],
        values: [(&str, AttributeValue); M],
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", key.clone())
            .update_expression(update)
            .condition_expression(condition);
        for (placeholder, name) in names {
            request = request.expression_attribute_names(placeholder, name);
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(dynamo_error("UpdateItem", error)),
        }
    }

    /// Applies `update` to an existing item; `false` when there is none. Conditional:
    /// an update must never create an item a delete just removed.
    async fn update_existing<const N: usize, const M: usize>(
        &self,
        id: ImageId,
        update: &str,
        names: [(&str, &str); N],
        values: [(&str, AttributeValue); M],
    ) -> Result<bool, StoreError> {
        let key = AttributeValue::S(id.to_string());
        self.update_existing_when(&key, update, "attribute_exists(id)", names, values)
            .await
    }

    /// After a reference was removed: at zero, one caller is elected to delete the
    /// object (an upload that added a reference meanwhile makes the condition fail: the
    /// object stays). Returns the SHA-256 when this caller was elected.
    async fn elect_deleter(&self, sha256: String) -> Result<Option<String>, StoreError> {
        let elected = self
            .update_existing_when(
                &object_key(&sha256),
                "SET dead = :true, dead_since = :now",
                "refs = :zero AND dead = :false",
                [],
                [
                    (":true", AttributeValue::Bool(true)),
                    (":false", AttributeValue::Bool(false)),
                    (":zero", AttributeValue::N("0".into())),
                    (":now", AttributeValue::N(now_ns().to_string())),
                ],
            )
            .await?;
        Ok(elected.then_some(sha256))
    }

    /// Of one page of object items, appends to `dead` those dead longer than the grace
    /// (before `cutoff`) and those left at zero, which this caller is elected to
    /// delete; `true` once `dead` holds `limit`.
    async fn elect_dead(
        &self,
        items: &[std::collections::HashMap<String, AttributeValue>],
        cutoff: i128,
        limit: u16,
        dead: &mut Vec<String>,
    ) -> Result<bool, StoreError> {
        for item in items {
            let Some(key) = item.get("id").and_then(|v| v.as_s().ok()) else {
                continue;
            };
            let Some(sha256) = key.strip_prefix(OBJECT_PREFIX) else {
                continue;
            };
            let is_dead = item.get("dead").and_then(|v| v.as_bool().ok()).copied() == Some(true);
            let dead_since: i128 = item
                .get("dead_since")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if is_dead && dead_since > cutoff {
                // Fresh: its elected deleter is at work.
                continue;
            }
            let elected = is_dead || self.elect_deleter(sha256.to_owned()).await?.is_some();
            if elected {
                dead.push(sha256.to_owned());
            }
            if dead.len() >= usize::from(limit) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn put(&self, record: &ImageRecord) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::item(record)))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(|e| StoreError::Other(e.into()))
    }
}

/// For each item of a cancelled transaction, whether its condition failed (empty when
/// the error is not a cancellation).
fn failed_conditions<R>(
    error: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> Vec<bool> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code() == Some("ConditionalCheckFailed"))
            .collect(),
        _ => Vec::new(),
    }
}

/// Nanoseconds since the epoch, for `dead_since`.
fn now_ns() -> i128 {
    OffsetDateTime::now_utc().unix_timestamp_nanos()
}

/// Where object items' ids start: `object#<sha256>`.
const OBJECT_PREFIX: &str = "object#";

/// The key of an object's item.
fn object_key(sha256: &str) -> AttributeValue {
    AttributeValue::S(format!("{OBJECT_PREFIX}{sha256}"))
}

#[async_trait]
impl ImageMetaStore for DynamoMeta {
    async fn insert_all(&self, records: &[ImageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        // One update per object: a transaction may not touch an item twice.
        let mut per_object: Vec<(&str, u64)> = Vec::new();
        for record in records {
            match per_object.iter_mut().find(|(sha, _)| *sha == record.sha256) {
                Some((_, count)) => *count += 1,
                None => per_object.push((&record.sha256, 1)),
            }
        }
        if records.len() + per_object.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Other(anyhow::anyhow!(
                "more than {MAX_TRANSACTION_ITEMS} items in one DynamoDB transaction"
            )));
        }
        let mut items = records
            .iter()
            .map(|r| Ok(TransactWriteItem::builder().put(self.put(r)?).build()))
            .collect::<Result<Vec<_>, StoreError>>()?;
        for (sha256, count) in &per_object {
            let update = Update::builder()
                .table_name(&self.table)
                .key("id", object_key(sha256))
                .update_expression("ADD refs :n SET dead = if_not_exists(dead, :false)")
                .condition_expression("attribute_not_exists(dead) OR dead = :false")
                .expression_attribute_values(":n", AttributeValue::N(count.to_string()))
                .expression_attribute_values(":false", AttributeValue::Bool(false))
                .build()
                .map_err(|e| StoreError::Other(e.into()))?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        let written = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(error) => {
                // Which condition failed: a record's (its id exists) or an object's.
                let object_refused = failed_conditions(&error)
                    .into_iter()
                    .skip(records.len())
                    .any(|failed| failed);
                if object_refused {
                    return Err(StoreError::Conflict(OBJECT_BEING_DELETED.into()));
                }
                Err(dynamo_error("TransactWriteItems", error))
            }
        }
    }

    async fn get(&self, id: ImageId) -> Result<Option<ImageRecord>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        found.item().map(Self::record).transpose()
    }

    async fn list(
        &self,
        before: Option<ImageId>,
        limit: u16,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX)
            .scan_index_forward(false)
            .limit(i32::from(limit))
            .expression_attribute_names("#f", "feed")
            .expression_attribute_values(":f", AttributeValue::S(FEED.to_owned()));
        query = match before {
            Some(before) => query
                .key_condition_expression("#f = :f AND #i < :before")
                .expression_attribute_names("#i", "id")
                .expression_attribute_values(":before", AttributeValue::S(before.to_string())),
            None => query.key_condition_expression("#f = :f"),
        };
        let page = query.send().await.map_err(|e| dynamo_error("Query", e))?;
        page.items().iter().map(Self::record).collect()
    }

    async fn delete(&self, id: ImageId) -> Result<Deleted, StoreError> {
        let Some(found) = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?
            .item
        else {
            return Ok(Deleted::default());
        };
        let sha256 = found.get("sha256").and_then(|v| v.as_s().ok()).cloned();
        let counted = found.get("counted").and_then(|v| v.as_bool().ok()).copied() == Some(true);
        let (Some(sha256), true) = (sha256, counted) else {
            // Stored before reference counting: no count to decrement.
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("id", AttributeValue::S(id.to_string()))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(|e| dynamo_error("DeleteItem", e))?;
            return Ok(Deleted {
                existed: deleted.attributes().is_some_and(|a| !a.is_empty()),
                unreferenced: None,
            });
        };
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .condition_expression("attribute_exists(id)")
            .build()
            .map_err(|e| StoreError::Other(e.into()))?;
        let decrement = Update::builder()
            .table_name(&self.table)
            .key("id", object_key(&sha256))
            .update_expression("ADD refs :minus")
            .condition_expression("refs > :zero")
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .build()
            .map_err(|e| StoreError::Other(e.into()))?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(TransactWriteItem::builder().update(decrement).build())
            .send()
            .await;
        if let Err(error) = written {
            if error.code() == Some("TransactionCanceledException") {
                // Deleted meanwhile by another caller: it decremented.
                return Ok(Deleted::default());
            }
            return Err(dynamo_error("TransactWriteItems", error));
        }
        Ok(Deleted {
            existed: true,
            unreferenced: self.elect_deleter(sha256).await?,
        })
    }

    async fn switch_object(
        &self,
        id: ImageId,
        from: &str,
        to: &str,
        size: u64,
    ) -> Result<Switched, StoreError> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Other(e.into());
        // Only a counted record (`pier images migrate-objects` counts older ones) holds a
        // reference to move.
        let record = Update::builder()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .update_expression("SET sha256 = :to, #size = :size")
            .condition_expression("sha256 = :from AND counted = :true")
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
            .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
            .expression_attribute_values(":size", AttributeValue::N(size.to_string()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(built)?;
        let increment = Update::builder()
            .table_name(&self.table)
            .key("id", object_key(to))
            .update_expression("ADD refs :one SET dead = if_not_exists(dead, :false)")
            .condition_expression("attribute_not_exists(dead) OR dead = :false")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(built)?;
        let decrement = Update::builder()
            .table_name(&self.table)
            .key("id", object_key(from))
            .update_expression("ADD refs :minus")
            .condition_expression("refs > :zero")
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .build()
            .map_err(built)?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(record).build())
            .transact_items(TransactWriteItem::builder().update(increment).build())
            .transact_items(TransactWriteItem::builder().update(decrement).build())
            .send()
            .await;
        if let Err(error) = written {
            let failed = failed_conditions(&error);
            if failed.get(1) == Some(&true) {
                return Err(StoreError::Conflict(OBJECT_BEING_DELETED.into()));
            }
            if failed.first() == Some(&true) {
                // Deleted, switched already, or not counted: nothing changed.
                return Ok(Switched::default());
            }
            return Err(dynamo_error("TransactWriteItems", error));
        }
        Ok(Switched {
            switched: true,
            unreferenced: self.elect_deleter(from.to_owned()).await?,
        })
    }

    async fn forget_object(&self, sha256: &str) -> Result<(), StoreError> {
        let forgotten = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", object_key(sha256))
            .condition_expression("dead = :true")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        match forgotten {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(dynamo_error("DeleteItem", error)),
        }
    }

    async fn dead_objects(
        &self,
        limit: u16,
        older_than: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let cutoff = now_ns().saturating_sub(older_than.as_nanos() as i128);
        // A scan: the sweep's, hourly, page after page (a page is at most 1 MB of the
        // table) until `limit` are found or the table ends. Objects left at zero by a
        // delete cut short between its decrement and its election are elected here.
        let mut dead = Vec::new();
        let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
        loop {
            let scanned = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(id, :object) AND (dead = :true OR refs = :zero)")
                .expression_attribute_values(":object", AttributeValue::S(OBJECT_PREFIX.into()))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo_error("Scan", e))?;
            if self
                .elect_dead(scanned.items(), cutoff, limit, &mut dead)
                .await?
            {
                return Ok(dead);
            }
            match scanned.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(dead),
            }
        }
    }

    async fn count_legacy_reference(&self, record: &ImageRecord) -> Result<bool, StoreError> {
        let mark = Update::builder()
            .table_name(&self.table)
            .key("id", AttributeValue::S(record.id.to_string()))
            .update_expression("SET counted = :true")
            .condition_expression("attribute_exists(id) AND attribute_not_exists(counted)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(|e| StoreError::Other(e.into()))?;
        let reference = Update::builder()
            .table_name(&self.table)
            .key("id", object_key(&record.sha256))
            .update_expression("ADD refs :one SET dead = if_not_exists(dead, :false)")
            .condition_expression("attribute_not_exists(dead) OR dead = :false")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(|e| StoreError::Other(e.into()))?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark).build())
            .transact_items(TransactWriteItem::builder().update(reference).build())
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            // Counted already (or deleted meanwhile).
            Err(error) if error.code() == Some("TransactionCanceledException") => Ok(false),
            Err(error) => Err(dynamo_error("TransactWriteItems", error)),
        }
    }

    async fn object_references(&self, sha256: &str) -> Result<Option<(u64, bool)>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", object_key(sha256))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        Ok(found.item().map(|item| {
            let refs = item
                .get("refs")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let dead = item.get("dead").and_then(|v| v.as_bool().ok()).copied() == Some(true);
            (refs, dead)
        }))
    }

    async fn set_placeholder(&self, id: ImageId, placeholder: &str) -> Result<bool, StoreError> {
        self.update_existing(
            id,
            "SET #p = :p",
            [("#p", "placeholder")],
            [(":p", AttributeValue::S(placeholder.to_owned()))],
        )
        .await
    }

    async fn set_displayed_size(
        &self,
        id: ImageId,
        width: u32,
        height: u32,
    ) -> Result<bool, StoreError> {
        self.update_existing(
            id,
            // Attribute names by placeholder: some words are reserved in expressions.
            "SET #w = :w, #h = :h",
            [("#w", "width"), ("#h", "height")],
            [
                (":w", AttributeValue::N(width.to_string())),
                (":h", AttributeValue::N(height.to_string())),
            ],
        )
        .await
    }

    async fn reachable(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| dynamo_error("DescribeTable", e))?;
        Ok(())
    }
}

fn is_not_found<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.code() == Some("ResourceNotFoundException")
}

/// The error code and message, or the transport failure, without the request.
fn describe<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: &SdkError<E, R>,
) -> String {
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(error)),
    }
}

/// Maps a DynamoDB failure onto the API: unreachable, throttled or failing service is a
/// 503 (the upload path spools on it); a failed condition means the id already exists.
fn dynamo_error<E, R>(operation: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let text = describe(&error);
    match &error {
        SdkError::ServiceError(_) => match error.code() {
            Some("ConditionalCheckFailedException") | Some("TransactionCanceledException")
                if text.contains("ConditionalCheckFailed") =>
            {
                StoreError::Other(anyhow::anyhow!(
                    "DynamoDB {operation}: an image with this id already exists"
                ))
            }
            Some("ResourceNotFoundException") => StoreError::Unavailable(format!(
                "the DynamoDB metadata table is missing (run `pier migrate`): {text}"
            )),
            Some("ValidationException") | Some("SerializationException") => {
                StoreError::Other(anyhow::anyhow!("DynamoDB {operation} refused: {text}"))
            }
            _ => StoreError::Unavailable(format!("DynamoDB {operation} failed: {text}")),
        },
        _ => StoreError::Unavailable(format!("DynamoDB is unreachable ({operation}): {text}")),
    }
}
