//! Role rules and counts, without a database.

use super::*;
use bson::doc;
use promptforge_wire::schema::TeamRole;

#[test]
fn owners_manage_everyone_but_themselves_and_admins_only_those_below_them() {
    use TeamRole::*;
    assert!(may_manage(Owner, Admin, Some(Viewer)));
    assert!(may_manage(Owner, Editor, Some(Admin)));
    assert!(!may_manage(Owner, Owner, None));
    assert!(may_manage(Admin, Editor, Some(Viewer)));
    assert!(
        !may_manage(Admin, Editor, Some(Admin)),
        "no raising to one's own rank"
    );
    assert!(!may_manage(Admin, Admin, None));
    for role in [Editor, Viewer] {
        assert!(!may_manage(role, Viewer, None));
    }
}

#[test]
fn counts_follow_the_member_list() {
    let team = doc! { "_id": "t", "members": { "a": { "role": "owner" } }, "member_count": 1_i64,
    "stats": { "active_members": 1_i64, "total_prompts": 4_i64 } };
    let mut members = members_of(&team);
    members.insert("b", doc! { "role": "editor" });
    let updated = with_members(&team, members);
    assert_eq!(updated.get_i64("member_count").ok(), Some(2));
    let stats = updated.get_document("stats").ok();
    assert_eq!(
        stats.and_then(|s| s.get_i64("active_members").ok()),
        Some(2)
    );
    assert_eq!(stats.and_then(|s| s.get_i64("total_prompts").ok()), Some(4));
    assert_eq!(role_of(&updated, "b"), Some(TeamRole::Editor));
    assert_eq!(owner_of(&updated).as_deref(), Some("a"));
}
