Feature: Every resource that can be tagged is tagged
  In order to know who owns the isolation automation and what it costs
  As a cloud administrator
  I want every taggable resource of the plan to carry at least one tag

  # tags_all is checked: it holds the resource's own tags and the provider's default_tags, so tags set
  # either way count. A tags_all known only after apply (tags computed from other resources) counts as
  # missing. Which tag keys your organisation requires is yours to add, one scenario per key, e.g.:
  #   Scenario: Every taggable resource has an Owner tag
  #     Given I have resource that supports tags defined
  #     Then it must contain tags_all
  #     And it must contain Owner
  #     And its value must not be null

  Scenario: Every taggable resource has tags
    Given I have resource that supports tags defined
    Then it must contain tags_all
    And its value must not be null
