//! The category tree's rules: where a category may sit. A tree, never a cycle, and not deeper
//! than [`MAX_CATEGORY_DEPTH`] levels, whatever admins move where.

use std::collections::BTreeMap;

use crate::product::CategoryId;
use crate::text::BoundedText;
use crate::{Error, ErrorCode};

/// How many levels the tree may have (a top-level category is level 1).
pub const MAX_CATEGORY_DEPTH: usize = 5;

/// A category's name as shoppers see it.
pub type CategoryName = BoundedText<1, 100>;

/// The ancestors `id` would have under `parent` (nearest first), in a tree whose categories
/// have the parents `parents` says: 400 naming `parent` if it does not exist, is `id` itself or
/// one of its descendants (a cycle), or would put `id`'s subtree deeper than the limit.
pub fn ancestors_under(
    parents: &BTreeMap<CategoryId, Option<CategoryId>>,
    id: &CategoryId,
    parent: Option<&CategoryId>,
) -> Result<Vec<CategoryId>, Error> {
    let mut ancestors = Vec::new();
    let mut next = parent.cloned();
    while let Some(at) = next {
        if &at == id {
            return Err(Error::invalid("parent", "would make the category its own ancestor"));
        }
        let Some(above) = parents.get(&at) else {
            return Err(Error::invalid("parent", "is not a category"));
        };
        if ancestors.len() > parents.len() {
            // A cycle already stored (it cannot be written through these rules): refuse.
            return Err(Error::conflict(ErrorCode::VersionConflict, "The category tree is inconsistent."));
        }
        ancestors.push(at);
        next = above.clone();
    }
    let depth = ancestors.len() + 1 + subtree_height(parents, id);
    if depth > MAX_CATEGORY_DEPTH {
        return Err(Error::invalid("parent", format!("the tree may be at most {MAX_CATEGORY_DEPTH} levels deep")));
    }
    Ok(ancestors)
}

/// How many levels hang below `id` (0 for a leaf).
fn subtree_height(parents: &BTreeMap<CategoryId, Option<CategoryId>>, id: &CategoryId) -> usize {
    fn height(parents: &BTreeMap<CategoryId, Option<CategoryId>>, id: &CategoryId, guard: usize) -> usize {
        if guard == 0 {
            return 0;
        }
        parents
            .iter()
            .filter(|(_, p)| p.as_ref() == Some(id))
            .map(|(child, _)| 1 + height(parents, child, guard - 1))
            .max()
            .unwrap_or(0)
    }
    height(parents, id, MAX_CATEGORY_DEPTH + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str) -> CategoryId {
        CategoryId::parse(id).unwrap()
    }

    fn tree(pairs: &[(&str, Option<&str>)]) -> BTreeMap<CategoryId, Option<CategoryId>> {
        pairs.iter().map(|(id, parent)| (c(id), parent.map(c))).collect()
    }

    #[test]
    fn a_category_goes_under_an_existing_one_never_under_itself_or_its_descendants() {
        let t = tree(&[("home", None), ("mugs", Some("home")), ("travel-mugs", Some("mugs")), ("art", None)]);
        assert_eq!(ancestors_under(&t, &c("travel-mugs"), Some(&c("art"))).unwrap(), vec![c("art")]);
        assert_eq!(
            ancestors_under(&t, &c("new"), Some(&c("travel-mugs"))).unwrap(),
            vec![c("travel-mugs"), c("mugs"), c("home")]
        );
        assert!(ancestors_under(&t, &c("home"), None).unwrap().is_empty());
        for (id, parent) in [("home", "home"), ("home", "travel-mugs"), ("mugs", "travel-mugs")] {
            let err = ancestors_under(&t, &c(id), Some(&c(parent))).unwrap_err();
            assert!(err.details.contains_key("parent"), "{id} under {parent}: {err:?}");
        }
        assert!(ancestors_under(&t, &c("new"), Some(&c("nowhere"))).is_err());
    }

    #[test]
    fn the_tree_stays_within_its_depth_subtrees_included() {
        let t =
            tree(&[("a", None), ("b", Some("a")), ("c", Some("b")), ("d", Some("c")), ("x", None), ("y", Some("x"))]);
        assert!(ancestors_under(&t, &c("e"), Some(&c("d"))).is_ok(), "level 5");
        assert!(ancestors_under(&t, &c("x"), Some(&c("c"))).is_ok(), "x at 4, y at 5");
        assert!(ancestors_under(&t, &c("x"), Some(&c("d"))).is_err(), "y would be at level 6");
    }
}
