"""Node scripts the tests run against a live gateway: graphql-http's audits and a browser."""
