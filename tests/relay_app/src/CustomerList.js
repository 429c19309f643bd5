// A small Relay app's documents: a paginated list with a fragment, and a mutation.
// tests/test_relay_compiler.py compiles them with persistConfig; nothing runs this file.
import { graphql } from "react-relay";

export const customerListQuery = graphql`
  query CustomerListQuery($first: Int!, $after: String) {
    customers(first: $first, after: $after, orderBy: { field: NAME, direction: ASC }) {
      edges {
        cursor
        node {
          id
          ...CustomerList_customer
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;

export const customerFragment = graphql`
  fragment CustomerList_customer on Customer {
    name
    email
  }
`;

export const createCustomerMutation = graphql`
  mutation CustomerListCreateMutation($input: CreateCustomerInput!) {
    createCustomer(input: $input) {
      customer {
        id
        ...CustomerList_customer
      }
      userErrors {
        field
        code
      }
    }
  }
`;
