//! Checkpoints: a connector's `state` is its own JSON, opaque to the host.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::ConnectorError;

/// Reads the checkpoint the host handed back; `None` (first sync) is `T::default()`.
/// A checkpoint that does not parse is `bad-data`: the host must not guess where
/// to resume (a coordinator resets the source's state).
pub fn load<T: DeserializeOwned + Default>(state: Option<&str>) -> Result<T, ConnectorError> {
    match state {
        None => Ok(T::default()),
        Some(s) if s.trim().is_empty() => Ok(T::default()),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| ConnectorError::BadData(format!("unreadable checkpoint state: {e}"))),
    }
}

/// Writes a checkpoint for `Batch::state`.
pub fn save<T: Serialize>(state: &T) -> Result<String, ConnectorError> {
    serde_json::to_string(state)
        .map_err(|e| ConnectorError::BadData(format!("cannot write checkpoint state: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Default, PartialEq, Debug)]
    struct S {
        cursor: Option<String>,
    }

    #[test]
    fn none_and_blank_are_default() {
        assert_eq!(load::<S>(None).unwrap(), S::default());
        assert_eq!(load::<S>(Some(" ")).unwrap(), S::default());
    }

    #[test]
    fn round_trip_and_garbage() {
        let s = S {
            cursor: Some("abc".into()),
        };
        assert_eq!(load::<S>(Some(&save(&s).unwrap())).unwrap(), s);
        assert!(matches!(
            load::<S>(Some("{nope")),
            Err(ConnectorError::BadData(_))
        ));
    }
}
