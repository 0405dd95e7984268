import { graphql } from "./gql";

export const ViewerQuery = graphql(`
  query Viewer {
    viewer {
      name
      role
      permissions
    }
  }
`);
