//! The argon2id parameters every password hash is made with. Here rather than in the api so
//! that whatever must hash exactly as the api does (the seeder, `tusk-surge bench signup`)
//! depends on the domain crate only.

use argon2::Argon2;

/// The argon2id hasher every password goes through, with its parameters (the crate's defaults:
/// argon2id v19, 19 MiB, 2 passes, 1 lane); `tusk-surge bench signup` measures against it.
#[must_use]
pub fn password_hasher() -> Argon2<'static> {
    Argon2::default()
}

#[cfg(test)]
mod tests {
    use argon2::{Algorithm, Version};

    #[test]
    fn the_hasher_is_argon2id_v19_with_19_mib_and_2_passes() {
        let hasher = super::password_hasher();
        let params = hasher.params();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (19 * 1024, 2, 1));
        // the algorithm and version show in the PHC string
        let phc = argon2::password_hash::PasswordHasher::hash_password(&hasher, b"correct horse").unwrap();
        let phc = phc.to_string();
        assert!(
            phc.starts_with(&format!("${}$v={}$", Algorithm::Argon2id.as_str(), Version::V0x13 as u32)),
            "{phc}"
        );
    }
}
