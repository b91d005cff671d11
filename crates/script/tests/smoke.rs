mod common;
use common::*;

#[test]
fn smoke() {
    let r = run("request_route {\n $var(a) = 1 + 2;\n rec(\"a=$var(a) m=$rm\");\n if (method == \"options\") { rec(\"yes\"); }\n}\n", OPTIONS);
    assert_eq!(r.logs, vec!["a=3 m=OPTIONS", "yes"]);
}
