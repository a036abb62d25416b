fn main() {
    let _ = (
        pidone::privilege::apply,
        pidone::render::render,
        pidone::users::resolve,
    );
}
