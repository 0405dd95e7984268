import { useState } from "react";
import { useMutation } from "urql";
import {
  type CustomerValues,
  CustomerForm,
  EMPTY_CUSTOMER,
  type UserError,
  changes,
} from "../customerForm";
import { ErrorNote } from "../errors";
import { graphql } from "../gql";
import { useCan } from "../permissions";
import { customerHref } from "../route";

const CreateCustomer = graphql(`
  mutation CreateCustomer($input: CreateCustomerInput!) {
    createCustomer(input: $input) {
      customer {
        id
      }
      errors {
        code
        message
        field
      }
    }
  }
`);

/** A new customer; on success its 360 opens. */
export default function NewCustomer() {
  const canSeePersonal = useCan("pii:read");
  const [{ fetching, error }, create] = useMutation(CreateCustomer);
  const [errors, setErrors] = useState<UserError[]>([]);

  async function submit(values: CustomerValues) {
    const filled = changes(EMPTY_CUSTOMER, values);
    const result = await create({
      input: { ...filled, name: values.name.trim(), lifecycleStage: values.lifecycleStage },
    });
    const payload = result.data?.createCustomer;
    if (!payload) return;
    setErrors(payload.errors);
    if (payload.customer) window.location.hash = customerHref(payload.customer.id);
  }

  return (
    <section aria-labelledby="new-customer-title">
      <p>
        <a href="#/customers">← Customers</a>
      </p>
      <h1 id="new-customer-title">New customer</h1>
      {error && <ErrorNote error={error} />}
      <CustomerForm
        initial={EMPTY_CUSTOMER}
        errors={errors}
        busy={fetching}
        canSeePersonal={canSeePersonal}
        submitLabel="Create customer"
        onSubmit={submit}
      />
    </section>
  );
}
